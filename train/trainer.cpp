#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/profile.h"
#include "core/cuda_graph.h"
#include "nn/optim/clip.h"
#include "nn/precision.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/faults.h"

namespace ttt {

namespace fs = std::filesystem;

namespace {

Device pick_device(const std::string& s) {
  if (s == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  Device d = Device::parse(s);
  TTT_CHECK(!d.is_cuda() || cuda_available(), "run.device", "'", s, "' requested but no CUDA GPU is available (use cpu or auto)");
  return d;
}

std::string memory_str(Device d) {
  if (d.is_cuda()) {
    auto st = cuda::allocator_stats();
    char buf[64];
    std::snprintf(buf, sizeof buf, "gpu %.0f/%.0f MiB", st.current_bytes / 1048576.0, st.peak_bytes / 1048576.0);
    return buf;
  }
  long pages = 0, rss = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages >> rss;
  char buf[64];
  std::snprintf(buf, sizeof buf, "rss %.0f MiB", rss * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0);
  return buf;
}

std::string num(double v, const char* fmt = "%.17g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t counted = 0;
};

// Mean loss over eval_batches validation batches, and the accuracy of argmax predictions over
// every position with a target (for recall: the answers to the queries).
EvalResult evaluate(const HybridLM& model, const DataSource& data, const TrainConfig& c, Device device) {
  NoGradGuard no_grad;
  EvalResult r;
  int64_t correct = 0;
  for (int64_t i = 0; i < c.run.eval_batches; ++i) {
    Batch b = data.batch(i, /*validation=*/true);
    Tensor in = to_device(b.inputs, device), tg = to_device(b.targets, device);
    std::vector<Tensor> logits = model.forward(in);
    double loss = 0, wsum = 0;
    for (int64_t s = 0; s < c.model.num_streams(); ++s) {
      const int64_t V = c.model.vocab(s);
      Tensor t = reshape(squeeze(slice(tg, 2, s, s + 1), 2), {-1});
      const double w = c.model.stream_weights.empty() ? 1.0 : c.model.stream_weights[s];
      loss += w * cross_entropy(reshape(logits[s], {-1, V}), t, c.model.pad_id(s)).item<double>();
      wsum += w;
      std::vector<float> lg = reshape(logits[s], {-1, V}).to_vector<float>();
      std::vector<int64_t> tv = t.to_vector<int64_t>();
      for (size_t row = 0; row < tv.size(); ++row) {
        if (tv[row] == c.model.pad_id(s)) continue;
        const float* p = lg.data() + row * V;
        correct += std::max_element(p, p + V) - p == tv[row];
        ++r.counted;
      }
    }
    r.loss += loss / wsum;
  }
  r.loss /= static_cast<double>(c.run.eval_batches);
  r.accuracy = r.counted ? static_cast<double>(correct) / static_cast<double>(r.counted) : 0.0;
  return r;
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
}

std::string python_for_tools() {
  const char* env = std::getenv("TTT_PYTHON");
  if (env && *env) return env;
  if (fs::exists(".venv/bin/python")) return ".venv/bin/python";
  return "python3";
}

}  // namespace

int run_training(const TrainConfig& c, const TrainOptions& opt) {
  // ---- dry run: shapes only ----
  if (opt.dry_run) {
    Generator gen(c.run.seed);
    HybridLM model(c.model, gen, Device::meta());
    nn::PolicyReport report = nn::apply_policy(model, c.trainable);
    std::cout << nn::parameter_table(model, 3) << "\n" << report.str();
    std::cout << "dry run: " << model.num_parameters() << " parameters, " << model.num_parameters(true)
              << " trainable; nothing was allocated\n";
    return 0;
  }

  // ---- data, model, policy, optimizer: everything that can fail on bad input comes first,
  // so a refused run leaves no run directory or partial file behind ----
  const bool resuming = !opt.resume_dir.empty();
  const std::string run_dir = resuming ? opt.resume_dir : c.run.run_dir;
  if (!resuming && fs::exists(run_dir) && !fs::is_empty(run_dir))
    TTT_CHECK(c.run.overwrite_run_dir, "run.run_dir", "'", run_dir, "' already exists and is not empty. Continue it with "
              "--resume ", run_dir, ", or set run.overwrite_run_dir=true to start over (its contents are deleted)");
  const Device device = pick_device(c.run.device);
  TTT_CHECK(!c.run.cuda_graph || device.is_cuda(), "run.cuda_graph", "needs a CUDA device; this run is on ",
            device.str());
  // the profiler times each kernel launch; a replayed graph has one: profiling runs without it
  const bool use_graph = c.run.cuda_graph && !profile::enabled();
  if (c.run.cuda_graph && !use_graph) std::cout << "run.cuda_graph: off for this run (TTT_PROFILE times each kernel)\n";
  using compute::MatmulPrecision;
  compute::set_matmul_precision(c.run.matmul_precision == "tf32"   ? MatmulPrecision::tf32
                                : c.run.matmul_precision == "bf16" ? MatmulPrecision::bf16
                                                                   : MatmulPrecision::f32);
  // bf16 activations for every forward of this run (training and evaluation): nn/precision.h
  nn::ActivationScope activations(c.run.activations == "bf16" ? DType::bf16 : DType::f32);
  std::unique_ptr<DataSource> data = make_data(c);
  Generator gen(c.run.seed);
  HybridLM model(c.model, gen, Device::cpu());
  model.to(device);
  nn::PolicyReport report = nn::apply_policy(model, c.trainable);
  nn::AdamW adamw(model, c.optim, c.groups);
  int64_t start_step = 0;
  std::optional<std::string> resume_from;
  if (resuming) {
    resume_from = latest_checkpoint(run_dir);
    TTT_CHECK(resume_from.has_value(), "--resume", "'", run_dir, "' has no complete checkpoint to resume from");
    start_step = load_checkpoint(*resume_from, model, adamw).step;
  }

  // ---- the run directory ----
  if (!resuming && fs::exists(run_dir)) fs::remove_all(run_dir);  // overwrite_run_dir (checked above)
  fs::create_directories(run_dir);
  const std::string metrics = (fs::path(run_dir) / "metrics.jsonl").string();
  // the config this process runs with (a resume may extend it with overrides, e.g. run.max_steps)
  nn::write_file_atomically((fs::path(run_dir) / "config.yaml").string(), c.resolved_yaml + "\n");
  if (resuming) {
    // metrics written after this checkpoint came from a run that did not reach the next one
    std::ifstream in(metrics);
    std::string line, kept;
    while (std::getline(in, line)) {
      const size_t at = line.find("\"step\":");
      if (at != std::string::npos && std::stoll(line.substr(at + 7)) > start_step) continue;
      kept += line + "\n";
    }
    nn::write_file_atomically(metrics, kept);
    std::cout << "resuming " << run_dir << " from " << *resume_from << " (step " << start_step << ")\n";
  }

  std::cout << "ttt-train: " << model.num_parameters() << " parameters on " << device.str() << "; data " << data->describe()
            << "\n\n" << nn::parameter_table(model, 2) << "\n" << report.str() << adamw.groups_report() << "\n";

  // ---- the loop ----
  const bool tty = isatty(fileno(stdout));
  const int64_t tokens_per_step = c.run.batch_size * c.run.seq_len * c.run.num_microbatches;
  auto t0 = std::chrono::steady_clock::now();
  auto last_log = t0;
  int64_t last_log_step = start_step;
  double last_loss = NAN;
  TrainerState state{start_step, c.run.seed, start_step * c.run.num_microbatches, c.resolved_yaml};
  const std::vector<Tensor> params = model.parameters();
  int64_t skipped_steps = 0;
  // run.cuda_graph: two steps run as usual (they fill the allocator's cache and the cached
  // constants), the third is recorded into a CUDA graph, and every step from then on replays it
  // on fixed input buffers (core/cuda_graph.h). The graph rewrites the gradients in place, so
  // they are not dropped between steps.
  CudaGraph graph;
  Tensor graph_inputs, graph_targets, graph_loss;
  nn::GradNorm graph_norm;
  const int64_t capture_step = start_step + 2;
  // TTT_PROFILE=1: time every CUDA kernel after a few warm-up steps (core/profile.h)
  const int64_t profile_from = std::min(start_step + 3, c.run.max_steps - 1);
  auto profile_t0 = t0;
  for (int64_t step = start_step; step < c.run.max_steps; ++step) {
    if (profile::enabled() && step == profile_from) {
      profile::reset();
      profile_t0 = std::chrono::steady_clock::now();
    }
    const double lr = nn::lr_at(c.schedule, step);
    Tensor loss_sum;
    if (use_graph) {
      Batch b = data->batch(step, false);
      if (!graph_inputs.defined()) {
        graph_inputs = to_device(b.inputs, device);
        graph_targets = to_device(b.targets, device);
      } else {
        copy_into(graph_inputs, b.inputs);
        copy_into(graph_targets, b.targets);
      }
      auto forward_backward = [&] {
        graph_loss = model.loss(graph_inputs, graph_targets).total;
        backward(graph_loss);
        graph_norm = nn::global_grad_norm(params, c.run.max_norm);
      };
      if (step < capture_step) {
        forward_backward();
      } else {
        if (!graph.captured()) graph.capture(forward_backward);
        graph.replay();
      }
      loss_sum = graph_loss.detach();
    } else {
      for (int64_t m = 0; m < c.run.num_microbatches; ++m) {
        Batch b = data->batch(step * c.run.num_microbatches + m, false);
        Tensor loss = model.loss(to_device(b.inputs, device), to_device(b.targets, device)).total;
        backward(loss * (1.0 / static_cast<double>(c.run.num_microbatches)));
        loss_sum = loss_sum.defined() ? add(loss_sum.detach(), loss.detach()) : loss.detach();
      }
    }
    // the graph writes into the gradient tensors it made: from the capture on they stay
    auto drop_gradients = [&] {
      if (!graph.captured()) adamw.zero_grad();
    };
    if (step == start_step && c.run.grad_audit != "off") {
      auto problems = nn::audit_gradient_flow(model);
      if (!problems.empty()) {
        const std::string text = nn::format_gradient_flow(problems);
        TTT_CHECK(c.run.grad_audit != "error", "gradient-flow audit", "\n", text,
                  "(set run.grad_audit=warn to train anyway)");
        std::cout << "warning: " << text;
      } else {
        std::cout << nn::format_gradient_flow(problems);
      }
    }
    const bool nan_grad_fault = fault_at("nan_grad", step + 1);
    if (nan_grad_fault)
      for (const Tensor& p : params)
        if (p.grad().defined()) {
          copy_into(p.grad(), full(p.shape(), NAN, p.dtype(), p.device()));  // in place: a graph's gradient stays
          break;
        }
    std::optional<profile::Region> optimizer_region;
    optimizer_region.emplace("optimizer");
    // (the graph's norm was taken before an injected fault changed a gradient: take it again then)
    nn::GradNorm gn = use_graph && !nan_grad_fault ? graph_norm : nn::global_grad_norm(params, c.run.max_norm);
    state.step = step + 1;
    state.data_position = state.step * c.run.num_microbatches;
    // one host read of each per step (the non-finite check needs them; the log reuses them)
    const double loss_value = loss_sum.item<double>() / static_cast<double>(c.run.num_microbatches);
    const double grad_norm = gn.norm.item<double>();
    if (!std::isfinite(grad_norm) || !std::isfinite(loss_value)) {
      if (c.run.nonfinite == "stop") {
        std::string first = "none (the loss itself)";
        for (auto& [name, p] : model.named_parameters()) {
          if (!p.grad().defined()) continue;
          std::vector<double> g = p.grad().to_vector<double>();
          if (std::any_of(g.begin(), g.end(), [](double v) { return !std::isfinite(v); })) {
            first = name;
            break;
          }
        }
        auto last = latest_checkpoint(run_dir);
        fail("training", cat_str("step ", state.step, ": non-finite loss or gradient; first parameter with a non-finite "
                                 "gradient: ", first, ". The last good checkpoint is ", last ? *last : std::string("(none yet)"),
                                 ". Lower optim.lr, clip with run.max_norm, or set run.nonfinite=skip to skip such steps"));
      }
      ++skipped_steps;
      drop_gradients();
      append_line(metrics, "{\"step\":" + std::to_string(state.step) + ",\"skipped_nonfinite\":" + std::to_string(skipped_steps) + "}");
      std::printf("%sstep %lld: non-finite loss or gradient, step skipped (%lld so far)\n", tty ? "\n" : "",
                  static_cast<long long>(state.step), static_cast<long long>(skipped_steps));
      continue;
    }
    adamw.step(lr, gn.scale);
    drop_gradients();
    optimizer_region.reset();
    if (profile::enabled() && state.step == c.run.max_steps && profile_from >= start_step)
      profile::report(std::cout, c.run.max_steps - profile_from, profile_t0);  // before the final eval and checkpoint

    const bool log_now = state.step % c.run.log_freq == 0 || state.step == c.run.max_steps;
    if (log_now) {
      last_loss = loss_value;
      auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - last_log).count();
      const double tok_s = secs > 0 ? static_cast<double>((state.step - last_log_step) * tokens_per_step) / secs : 0;
      last_log = now;
      last_log_step = state.step;
      append_line(metrics, "{\"step\":" + std::to_string(state.step) + ",\"loss\":" + num(last_loss) + ",\"lr\":" + num(lr) +
                               ",\"grad_norm\":" + num(grad_norm) + ",\"tokens_per_s\":" + num(tok_s, "%.1f") +
                               ",\"elapsed_s\":" + num(std::chrono::duration<double>(now - t0).count(), "%.3f") + "}");
      char line[256];
      std::snprintf(line, sizeof line, "step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | %s",
                    static_cast<long long>(state.step), static_cast<long long>(c.run.max_steps), last_loss, lr, grad_norm,
                    tok_s, memory_str(device).c_str());
      if (tty) std::cout << "\r" << line << "\033[K" << std::flush;
      else std::cout << line << "\n";
    }
    const bool eval_now = (c.run.eval_freq > 0 && state.step % c.run.eval_freq == 0) || state.step == c.run.max_steps;
    if (eval_now) {
      profile::Region region("evaluation");
      EvalResult e = evaluate(model, *data, c, device);
      append_line(metrics, "{\"step\":" + std::to_string(state.step) + ",\"eval_loss\":" + num(e.loss) +
                               ",\"eval_accuracy\":" + num(e.accuracy) + "}");
      if (tty) std::cout << "\n";
      std::printf("eval at step %lld: loss %.4f, accuracy %.3f over %lld targets\n", static_cast<long long>(state.step),
                  e.loss, e.accuracy, static_cast<long long>(e.counted));
      std::fflush(stdout);
    }
    const bool stop_now = c.run.stop_at_step > 0 && state.step == c.run.stop_at_step;
    const bool ckpt_now =
        (c.run.ckpt_freq > 0 && state.step % c.run.ckpt_freq == 0) || state.step == c.run.max_steps || stop_now;
    if (ckpt_now) {
      profile::Region region("checkpoint");
      save_checkpoint(run_dir, model, adamw, state, c.run.num_ckpt_keep);
    }
    if (stop_now) {
      std::printf("%sstopped after step %lld as run.stop_at_step asks; continue with --resume %s\n", tty ? "\n" : "",
                  static_cast<long long>(state.step), run_dir.c_str());
      return 0;
    }
  }
  if (tty) std::cout << "\n";

  // ---- summary and plot ----
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("done: %lld steps in %.1f s; last loss %.4f; checkpoints, metrics.jsonl and config.yaml in %s\n",
              static_cast<long long>(c.run.max_steps - start_step), total, last_loss, run_dir.c_str());
  const std::string plot = python_for_tools() + " tools/plot_loss.py " + metrics + " " +
                           (fs::path(run_dir) / "loss.png").string() + " > /dev/null 2>&1";
  if (fs::exists("tools/plot_loss.py") && std::system(plot.c_str()) == 0)
    std::printf("loss curve: %s\n", (fs::path(run_dir) / "loss.png").c_str());
  else
    std::printf("(no loss plot: tools/plot_loss.py needs python3 with matplotlib, see tools/setup.sh)\n");
  return 0;
}

}  // namespace ttt
