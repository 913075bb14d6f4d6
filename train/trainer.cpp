#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/compute.h"
#include "core/cuda_graph.h"
#include "core/error.h"
#include "core/profile.h"
#include "nn/optim/clip.h"
#include "nn/precision.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/faults.h"
#include "train/memory_estimate.h"
#include "train/resume_check.h"
#include "train/run_dir.h"
#include "train/run_log.h"
#include "train/stop_signal.h"
#include "train/version.h"

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

// One JSON object per line; non-finite numbers become null (JSON has no NaN).
void append_metrics(const std::string& path, const nlohmann::ordered_json& record) {
  std::ofstream out(path, std::ios::app);
  out << record.dump() << "\n";
  out.flush();
  TTT_CHECK(out.good(), "metrics", "cannot append to ", path);
}

// Keeps the lines of metrics.jsonl up to `step`: what a killed run wrote after its last
// checkpoint is dropped when it resumes. Lines that are not JSON objects with a step are kept.
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) continue;
    kept += line + "\n";
  }
  nn::write_file_atomically(path, kept);
}

std::string code_version() { return std::string(kVersion) + " (" + kGitCommit + ")"; }

std::string fmt(const char* format, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, a);
  return buf;
}

std::string python_for_tools() {
  const char* env = std::getenv("TTT_PYTHON");
  if (env && *env) return env;
  if (fs::exists(".venv/bin/python")) return ".venv/bin/python";
  return "python3";
}

}  // namespace

namespace {

// Everything a run needs that can fail on bad input, checked and built before the run directory
// is created or touched: a refused run leaves nothing behind, a refused resume changes nothing.
struct Prepared {
  Device device;
  std::unique_ptr<DataSource> data;
  std::unique_ptr<HybridLM> model;
  nn::PolicyReport report;
  std::unique_ptr<nn::AdamW> adamw;
  MemoryEstimate memory;
  std::string memory_warning;              // run.memory_check: warn, and the estimate exceeds the device
  TrainerState saved;                      // the checkpoint's state when resuming
  std::optional<std::string> resume_from;  // its folder
  ResumeChanges changes;
};

int dry_run(const TrainConfig& c, const TrainOptions& opt) {
  Generator gen(c.run.seed);
  HybridLM model(c.model, gen, Device::meta());
  nn::PolicyReport report = nn::apply_policy(model, c.trainable);
  std::cout << nn::parameter_table(model, opt.depth) << "\n" << report.str();
  std::cout << estimate_training_memory(c).str();
  std::cout << "dry run: " << model.num_parameters() << " parameters, " << model.num_parameters(true)
            << " trainable; nothing was allocated\n";
  return 0;
}

// Steps from start_step to run.max_steps (or run.stop_at_step, or a stop signal), with logging,
// evaluation and checkpoints. Returns the exit code.
int train_loop(const TrainConfig& c, const std::string& run_dir, Prepared& p, int64_t start_step, bool use_graph, RunLog& log) {
  HybridLM& model = *p.model;
  nn::AdamW& adamw = *p.adamw;
  DataSource& data = *p.data;
  const Device device = p.device;
  const bool resuming = p.resume_from.has_value();
  const std::string metrics = (fs::path(run_dir) / "metrics.jsonl").string();
  // the config this process runs with (a resume may extend it with overrides, e.g. run.max_steps)
  nn::write_file_atomically((fs::path(run_dir) / "config.yaml").string(), c.resolved_yaml + "\n");
  if (c.run.cuda_graph && !use_graph) log.line("run.cuda_graph: off for this run (TTT_PROFILE times each kernel)");
  if (resuming) {
    truncate_metrics(metrics, start_step);
    log.line("resuming " + run_dir + " from " + *p.resume_from + " (step " + std::to_string(start_step) + ")");
    for (const auto& a : p.changes.applied) log.line("  changed: " + a);
    for (const auto& n : p.changes.notes) log.line("  note: " + n);
  }
  StopSignals signals;  // from here a SIGINT/SIGTERM/SIGHUP ends the run with a checkpoint

  log.line("ttt-train " + code_version() + ": " + std::to_string(model.num_parameters()) + " parameters on " + device.str() +
           "; data " + data.describe() + "\n\n" + nn::parameter_table(model, 2) + "\n" + p.report.str() + adamw.groups_report() +
           p.memory.str());
  if (!p.memory_warning.empty()) log.line(p.memory_warning);

  const int64_t tokens_per_step = c.run.batch_size * c.run.seq_len * c.run.num_microbatches;
  auto t0 = std::chrono::steady_clock::now();
  auto last_log = t0;
  int64_t last_log_step = start_step;
  double last_loss = NAN;
  TrainerState state{start_step,    c.run.seed,    start_step * c.run.num_microbatches, c.resolved_yaml, c.resolved,
                     data.identity, code_version()};
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
      Batch b = data.batch(step, false);
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
        Batch b = data.batch(step * c.run.num_microbatches + m, false);
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
      const std::string text = nn::format_gradient_flow(problems);
      if (!problems.empty()) {
        TTT_CHECK(c.run.grad_audit != "error", "gradient-flow audit", "\n", text, "(set run.grad_audit=warn to train anyway)");
        log.line("warning: " + text);
      } else {
        log.line(text);
      }
    }
    const bool nan_grad_fault = fault_at("nan_grad", step + 1);
    if (nan_grad_fault)
      for (const Tensor& param : params)
        if (param.grad().defined()) {
          copy_into(param.grad(), full(param.shape(), NAN, param.dtype(), param.device()));  // in place: a graph's gradient stays
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
        for (auto& [name, param] : model.named_parameters()) {
          if (!param.grad().defined()) continue;
          std::vector<double> g = param.grad().to_vector<double>();
          if (std::any_of(g.begin(), g.end(), [](double v) { return !std::isfinite(v); })) {
            first = name;
            break;
          }
        }
        auto last = latest_checkpoint(run_dir);
        fail("training", cat_str("step ", state.step,
                                 ": non-finite loss or gradient; first parameter with a non-finite "
                                 "gradient: ",
                                 first, ". The last good checkpoint is ", last ? *last : std::string("(none yet)"),
                                 ". Lower optim.lr, clip with run.max_norm, or set run.nonfinite=skip to skip such steps"));
      }
      ++skipped_steps;
      drop_gradients();
      append_metrics(metrics, {{"step", state.step}, {"skipped_nonfinite", skipped_steps}});
      log.line("step " + std::to_string(state.step) + ": non-finite loss or gradient, step skipped (" +
               std::to_string(skipped_steps) + " so far)");
    } else {
      adamw.step(lr, gn.scale);
      drop_gradients();
    }
    optimizer_region.reset();
    if (profile::enabled() && state.step == c.run.max_steps && profile_from >= start_step)
      profile::report(std::cout, c.run.max_steps - profile_from, profile_t0);  // before the final eval and checkpoint

    const bool log_now = state.step % c.run.log_freq == 0 || state.step == c.run.max_steps;
    if (log_now && std::isfinite(loss_value) && std::isfinite(grad_norm)) {
      last_loss = loss_value;
      auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - last_log).count();
      const double tok_s = secs > 0 ? static_cast<double>((state.step - last_log_step) * tokens_per_step) / secs : 0;
      last_log = now;
      last_log_step = state.step;
      append_metrics(metrics, {{"step", state.step},
                               {"loss", last_loss},
                               {"lr", lr},
                               {"grad_norm", grad_norm},
                               {"tokens_per_s", std::round(tok_s * 10) / 10},
                               {"elapsed_s", std::round(std::chrono::duration<double>(now - t0).count() * 1000) / 1000}});
      char line[256];
      std::snprintf(line, sizeof line, "step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | %s",
                    static_cast<long long>(state.step), static_cast<long long>(c.run.max_steps), last_loss, lr, grad_norm, tok_s,
                    memory_str(device).c_str());
      log.progress(line);
    }
    const bool eval_now = (c.run.eval_freq > 0 && state.step % c.run.eval_freq == 0) || state.step == c.run.max_steps;
    if (eval_now && data.has_validation()) {
      profile::Region region("evaluation");
      EvalResult e = evaluate(model, data, c, device);
      append_metrics(metrics, {{"step", state.step}, {"eval_loss", e.loss}, {"eval_accuracy", e.accuracy}});
      char line[160];
      std::snprintf(line, sizeof line, "eval at step %lld: loss %.4f, accuracy %.3f over %lld targets",
                    static_cast<long long>(state.step), e.loss, e.accuracy, static_cast<long long>(e.counted));
      log.line(line);
    } else if (eval_now && state.step == c.run.max_steps) {
      log.line("no evaluation: data.val_fraction is 0, so there is no validation split");
    }
    const int signal = StopSignals::requested();
    const bool stop_now = c.run.stop_at_step > 0 && state.step == c.run.stop_at_step;
    const bool ckpt_now =
        (c.run.ckpt_freq > 0 && state.step % c.run.ckpt_freq == 0) || state.step == c.run.max_steps || stop_now || signal != 0;
    std::string saved_to;
    if (ckpt_now) {
      profile::Region region("checkpoint");
      saved_to = save_checkpoint(run_dir, model, adamw, state, c.run.num_ckpt_keep);
    }
    if (signal != 0) {
      log.line("stopped by " + std::string(StopSignals::name(signal)) + " after step " + std::to_string(state.step) +
               "; checkpoint " + saved_to + " written. Continue with: ttt-train --resume " + run_dir);
      return 128 + signal;
    }
    if (stop_now) {
      log.line("stopped after step " + std::to_string(state.step) + " as run.stop_at_step asks; continue with --resume " +
               run_dir);
      return 0;
    }
  }

  // ---- summary and plot ----
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log.line("done: " + std::to_string(c.run.max_steps - start_step) + " steps in " + fmt("%.1f", total) + " s; last loss " +
           fmt("%.4f", last_loss) + "; checkpoints, metrics.jsonl, train.log and config.yaml in " + run_dir);
  const std::string plot = python_for_tools() + " tools/plot_loss.py " + metrics + " " +
                           (fs::path(run_dir) / "loss.png").string() + " > /dev/null 2>&1";
  if (fs::exists("tools/plot_loss.py") && std::system(plot.c_str()) == 0)
    log.line("loss curve: " + (fs::path(run_dir) / "loss.png").string());
  else
    log.line("(no loss plot: tools/plot_loss.py needs python3 with matplotlib, see tools/setup.sh)");
  return 0;
}

}  // namespace

int run_training(const TrainConfig& c, const TrainOptions& opt) {
  if (opt.dry_run) return dry_run(c, opt);

  const bool resuming = !opt.resume_dir.empty();
  const std::string run_dir = resuming ? opt.resume_dir : c.run.run_dir;
  const ExistingRunDir existing = existing_run_dir_from_string(c.run.existing_run_dir);
  Prepared p;
  RunDirLock lock;
  if (resuming) {
    TTT_CHECK(is_marked_run_dir(run_dir), "--resume", "'", run_dir, "' is not a run directory made by ttt-train (no ", kRunMarker,
              " in it)");
    // locked from the checks to the end: no other process writes here meanwhile (a lock file is
    // made only for a run that has a checkpoint: a refused resume creates nothing)
    if (fs::exists(fs::path(run_dir) / kRunLock)) lock = RunDirLock(run_dir);
    TTT_CHECK(latest_checkpoint(run_dir).has_value(), "--resume", "'", run_dir, "' has no complete checkpoint to resume from");
    if (!lock.held()) lock = RunDirLock(run_dir);
    p.resume_from = latest_checkpoint(run_dir);  // again: the one a process that held the lock may have added
    p.saved = read_trainer_state(*p.resume_from);
    if (p.saved.step >= c.run.max_steps) {
      std::cout << "the run in " << run_dir << " is finished: its last checkpoint is step " << p.saved.step
                << " and run.max_steps is " << c.run.max_steps << ". Nothing to do (to train on: --resume " << run_dir
                << " run.max_steps=" << std::max<int64_t>(2 * p.saved.step, p.saved.step + 1) << ")\n";
      return 0;
    }
  } else {
    check_new_run_dir(run_dir, existing, kSourceDir);
  }

  p.device = pick_device(c.run.device);
  TTT_CHECK(!c.run.cuda_graph || p.device.is_cuda(), "run.cuda_graph", "needs a CUDA device; this run is on ", p.device.str());
  p.data = make_data(c);
  if (resuming) p.changes = check_resume(p.saved, c.resolved, p.data->identity, code_version(), opt.allow_config_change);
  // sized on the meta device before anything real is allocated
  p.memory = estimate_training_memory(c);
  TTT_CHECK(p.memory.num_trainable > 0, "trainable", "the rules leave no parameter trainable (all ", p.memory.num_parameters,
            " are frozen), so there is nothing to train; check trainable.rules (ttt-train --dry-run prints the table)");
  p.memory_warning = check_memory_fits(p.memory, device_memory_bytes(p.device), p.device, c.run.memory_check == "warn");

  // the profiler times each kernel launch; a replayed graph has one: profiling runs without it
  const bool use_graph = c.run.cuda_graph && !profile::enabled();
  using compute::MatmulPrecision;
  compute::set_matmul_precision(c.run.matmul_precision == "tf32"   ? MatmulPrecision::tf32
                                : c.run.matmul_precision == "bf16" ? MatmulPrecision::bf16
                                                                   : MatmulPrecision::f32);
  // bf16 activations for every forward of this run (training and evaluation): nn/precision.h
  nn::ActivationScope activations(c.run.activations == "bf16" ? DType::bf16 : DType::f32);
  Generator gen(c.run.seed);
  p.model = std::make_unique<HybridLM>(c.model, gen, Device::cpu());
  HybridLM& model = *p.model;
  model.to(p.device);
  p.report = nn::apply_policy(model, c.trainable);
  p.adamw = std::make_unique<nn::AdamW>(model, c.optim, c.groups);
  nn::AdamW& adamw = *p.adamw;
  const int64_t start_step = resuming ? load_checkpoint(*p.resume_from, model, adamw).step : 0;

  // ---- the run directory: from here on, files are written ----
  if (!resuming) lock = create_run_dir(run_dir, existing, kSourceDir);
  RunLog log;
  log.open((fs::path(run_dir) / "train.log").string());
  try {
    return train_loop(c, run_dir, p, start_step, use_graph, log);
  } catch (const std::exception& e) {
    log.file_only(std::string("error: ") + e.what());  // main prints it to stderr
    throw;
  }
}

}  // namespace ttt
