// The training run, as the steps a reader follows:
//   run_training   dry run, or: prepare (every check, before anything is written), make or lock
//                  the run directory, then the loop
//   Trainer::run   for each step: forward and backward, the non-finite check, the optimizer,
//                  logging, evaluation, checkpoint, stop (run.stop_at_step or a signal)
#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/collectives.h"
#include "core/compute.h"
#include "core/cuda_graph.h"
#include "core/error.h"
#include "core/profile.h"
#include "nn/optim/clip.h"
#include "nn/precision.h"
#include "nn/safetensors.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/grad_reducer.h"
#include "train/init_from.h"
#include "train/launcher.h"
#include "train/memory_estimate.h"
#include "train/metrics.h"
#include "train/resume_check.h"
#include "train/run_dir.h"
#include "train/run_log.h"
#include "train/stop_signal.h"
#include "train/version.h"
#include "ttt/fused_scan.h"

namespace ttt {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

Device pick_device(const std::string& s) {
  if (s == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  Device d = Device::parse(s);
  TTT_CHECK(!d.is_cuda() || cuda_available(), "run.device", "'", s, "' requested but no CUDA GPU is available (use cpu or auto)");
  return d;
}

std::string memory_str(Device d) {
  char buf[64];
  if (d.is_cuda()) {
    auto st = cuda::allocator_stats();
    std::snprintf(buf, sizeof buf, "gpu %.0f/%.0f MiB", st.current_bytes / 1048576.0, st.peak_bytes / 1048576.0);
    return buf;
  }
  long pages = 0, rss = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages >> rss;
  std::snprintf(buf, sizeof buf, "rss %.0f MiB", rss * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0);
  return buf;
}

HybridLM::LossTargets to_device(const HybridLM::LossTargets& t, Device device) {
  if (!t.targets.defined()) return {};
  return {ttt::to_device(t.targets, device), ttt::to_device(t.weights, device)};
}

std::string code_version() { return std::string(kVersion) + " (" + kGitCommit + ")"; }

std::string fmt(const char* format, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, a);
  return buf;
}

// Everything a run needs that can fail on bad input, checked and built before the run directory
// is created or touched: a refused run leaves nothing behind, a refused resume changes nothing.
struct Prepared {
  DistributedEnv dist;                       // one process, or this rank of a data-parallel run
  std::unique_ptr<Collectives> collectives;  // the gradients' all-reduce (several GPUs)
  std::unique_ptr<DataSource> eval_data;     // rank 0's unsharded view for evaluation (several GPUs)
  Device device;
  std::unique_ptr<DataSource> data;
  std::unique_ptr<HybridLM> model;
  nn::PolicyReport report;
  std::unique_ptr<nn::AdamW> adamw;
  MemoryEstimate memory;
  std::string memory_warning;              // run.memory_check: warn, and the estimate exceeds the device
  std::optional<InitReport> init;          // model.init_from, for a new run
  TrainerState saved;                      // the checkpoint's state when resuming
  std::optional<std::string> resume_from;  // its folder
  ResumeChanges changes;
  int64_t start_step = 0;
};

// The resolved config as a checkpoint records it: with the global batch (run.batch_size times the
// number of GPUs), which a resume on another number of GPUs must keep (train/resume_check.h).
std::map<std::string, std::string> resolved_with_world(const TrainConfig& c, const DistributedEnv& dist) {
  std::map<std::string, std::string> r = c.resolved;
  r[kGlobalBatchKey] = std::to_string(c.run.batch_size * (dist.active() ? dist.world_size : 1));
  return r;
}

int dry_run(const TrainConfig& c, const TrainOptions& opt) {
  Generator gen(c.run.seed);
  HybridLM model(c.model, gen, Device::meta());
  nn::PolicyReport report = nn::apply_policy(model, c.trainable);
  std::cout << nn::parameter_table(model, opt.depth) << "\n" << report.str();
  std::cout << estimate_training_memory(c, std::max<int>(1, static_cast<int>(c.run.devices.size()))).str();
  if (c.model.audio_head == AudioHead::depformer) {  // what the official LMModel would count, and what TTT adds
    int64_t branches = 0;
    for (auto& [name, p] : model.named_parameters())
      if (is_ttt_branch_parameter(name)) branches += p.numel();
    std::cout << "Moshi part: " << nn::with_commas(model.num_parameters() - branches)
              << " parameters (the official LMModel's count for these options); TTT branches: " << nn::with_commas(branches)
              << "\n";
  }
  if (!c.init.from.empty()) std::cout << "model.init_from " << c.init.from << ": not read in a dry run\n";
  std::cout << "dry run: " << model.num_parameters() << " parameters, " << model.num_parameters(true)
            << " trainable; nothing was allocated\n";
  return 0;
}

// Data, the resume checks, the memory estimate, the model, the policy and the optimizer (with the
// checkpoint loaded when resuming): every check that can refuse the run.
void prepare(const TrainConfig& c, const TrainOptions& opt, Prepared& p) {
  p.device = pick_device(c.run.device);
  if (!p.dist.active() && c.run.devices.size() == 1) {  // one GPU named in run.devices: that one
    TTT_CHECK(cuda_available(), "run.devices", "[", c.run.devices[0], "] asks for a GPU but none is available");
    p.device = Device::cuda(static_cast<int>(c.run.devices[0]));
  }
  if (p.dist.active()) {  // this rank's GPU: run.devices[local rank], else cuda:<local rank>
    TTT_CHECK(cuda_available(), "distributed", p.dist.str(), ": data parallelism needs CUDA GPUs");
    const size_t lr = static_cast<size_t>(p.dist.local_rank);
    TTT_CHECK(c.run.devices.empty() || lr < c.run.devices.size(), "run.devices", "local rank ", lr, " has no GPU in run.devices");
    const char* given = std::getenv("TTT_DEVICE");  // set by run.devices' launcher (train/launcher.h)
    p.device = given && *given ? Device::parse(given)
                               : Device::cuda(static_cast<int>(c.run.devices.empty() ? p.dist.local_rank : c.run.devices[lr]));
  }
  TTT_CHECK(!c.run.cuda_graph || p.device.is_cuda(), "run.cuda_graph", "needs a CUDA device; this run is on ", p.device.str());
  p.data = make_data(c, {p.dist.rank, p.dist.world_size});
  if (p.dist.active() && p.dist.rank == 0) {  // evaluation sees the whole global batch, as one GPU would
    TrainConfig whole = c;
    whole.run.batch_size = c.run.batch_size * p.dist.world_size;
    p.eval_data = make_data(whole);
  }
  if (p.resume_from)
    p.changes = check_resume(p.saved, resolved_with_world(c, p.dist), p.data->identity, code_version(), opt.allow_config_change,
                             default_resolved_config());
  // sized on the meta device before anything real is allocated
  p.memory = estimate_training_memory(c, p.dist.active() ? p.dist.world_size : 1);
  TTT_CHECK(p.memory.num_trainable > 0, "trainable", "the rules leave no parameter trainable (all ", p.memory.num_parameters,
            " are frozen), so there is nothing to train; check trainable.rules (ttt-train --dry-run prints the table)");
  p.memory_warning =
      check_memory_fits(p.memory, device_memory_bytes(p.device), p.device, c.run.memory_check == MemoryCheck::warn);
  Generator gen(c.run.seed);
  p.model = std::make_unique<HybridLM>(c.model, gen, Device::cpu());
  if (!c.init.from.empty() && !p.resume_from) p.init = init_from(*p.model, c.init);  // a resume loads its checkpoint instead
  p.report = nn::apply_policy(*p.model, c.trainable);
  // frozen weights to bf16 on the host, before the move: the GPU never holds them in f32 (a 7B
  // base would pass through 30 GiB on its way to 15), and before a checkpoint loads into them
  if (c.frozen_dtype == FrozenDType::bf16) nn::store_frozen_in_bf16(*p.model);
  p.model->to(p.device);
  // ZeRO-1: this rank keeps the state of its share of the parameters only
  const nn::OptimizerShard shard{c.run.shard_optimizer && p.dist.active() ? p.dist.rank : 0,
                                 c.run.shard_optimizer && p.dist.active() ? p.dist.world_size : 1};
  p.adamw = std::make_unique<nn::AdamW>(*p.model, c.optim, c.groups, shard);
  if (p.resume_from) p.start_step = load_checkpoint(*p.resume_from, *p.model, *p.adamw).step;
  if (p.dist.active()) {  // rank 0's NCCL id to every rank, then one communicator each
    const std::string id = rendezvous_broadcast(p.dist, p.dist.rank == 0 ? Collectives::unique_id() : "", 600);
    p.collectives = std::make_unique<Collectives>(id, p.dist.rank, p.dist.world_size, p.device, c.run.collective_timeout_s);
  }
}

// The loop and what each step does, over the prepared run.
class Trainer {
 public:
  Trainer(const TrainConfig& c, const TrainOptions& opt, const std::string& run_dir, Prepared& p, RunLog& log)
      : c_(c),
        opt_(opt),
        run_dir_(run_dir),
        p_(p),
        log_(log),
        model_(*p.model),
        adamw_(*p.adamw),
        data_(*p.data),
        params_(model_.parameters()),
        metrics_((fs::path(run_dir) / "metrics.jsonl").string()),
        use_graph_(c.run.cuda_graph && !profile::enabled()),  // the profiler times each launch; a graph has one
        state_{p.start_step,
               c.run.seed,
               p.start_step * c.run.num_microbatches,
               c.resolved_yaml,
               resolved_with_world(c, p.dist),
               p.data->identity,
               code_version()} {
    if (p.collectives)
      reducer_ = std::make_unique<GradientReducer>(*p.collectives, params_,
                                                   GradientReducer::Options{c.run.overlap_reduce, c.run.reduce_dtype == "bf16",
                                                                            static_cast<int64_t>(c.run.bucket_mb * (1 << 20))});
  }

  int run() {
    begin();
    const int64_t profile_from = std::min(p_.start_step + 3, c_.run.max_steps - 1);  // TTT_PROFILE: after warm-up
    for (int64_t step = p_.start_step; step < c_.run.max_steps; ++step) {
      if (profile::enabled() && step == profile_from) {
        profile::reset();
        profile_t0_ = Clock::now();
      }
      if (opt_.faults.at("kill_at_step", step + 1)) std::raise(SIGKILL);  // TTT_FAULT (train/faults.h)
      const double lr = nn::lr_at(c_.schedule, step);
      const Tensor loss_sum = forward_backward(step);
      if (step == p_.start_step) {
        audit_gradient_flow();
        if (reducer_)
          log_.line("gradient all-reduce: " + reducer_->plan().str() +
                    (c_.run.overlap_reduce ? ", overlapped with backward from step 2" : ", after backward"));
      }
      const bool nan_grad_fault = opt_.faults.at("nan_grad", step + 1);
      if (nan_grad_fault) poison_first_gradient();
      std::optional<profile::Region> optimizer_region(std::in_place, "optimizer");
      // (the graph's norm was taken before an injected fault changed a gradient: take it again then)
      nn::GradNorm gn = use_graph_ && !nan_grad_fault ? graph_norm_ : nn::global_grad_norm(params_, c_.run.max_norm);
      state_.step = step + 1;
      state_.data_position = state_.step * c_.run.num_microbatches;
      // one host read of each per step, after the norm is queued (the non-finite check needs them)
      const double loss = loss_sum.item<double>() / static_cast<double>(c_.run.num_microbatches);
      const double grad_norm = gn.norm.item<double>();
      const bool finite = std::isfinite(grad_norm) && std::isfinite(loss);
      if (finite) {
        adamw_.step(lr, gn.scale);
        if (sharded()) broadcast_updated_parameters();
      } else
        skip_nonfinite_step();
      if (!graph_.captured()) adamw_.zero_grad();  // a captured graph rewrites its own gradients
      optimizer_region.reset();
      if (profile::enabled() && state_.step == c_.run.max_steps && profile_from >= p_.start_step)
        profile::report(std::cout, c_.run.max_steps - profile_from, profile_t0_);  // before the final eval and checkpoint
      if (finite) log_step(lr, loss, grad_norm);
      evaluate_if_due();
      if (const int code = checkpoint_and_maybe_stop(); code >= 0) return code;
    }
    finish();
    return 0;
  }

 private:
  // config.yaml, the metrics of a resumed run, the header lines.
  void begin() {
    // the config this process runs with (a resume may extend it with overrides, e.g. run.max_steps)
    if (writer()) nn::write_file_atomically((fs::path(run_dir_) / "config.yaml").string(), c_.resolved_yaml + "\n");
    if (c_.run.cuda_graph && !use_graph_) log_.line("run.cuda_graph: off for this run (TTT_PROFILE times each kernel)");
    if (p_.dist.active()) log_.line("data parallel: " + p_.dist.str() + " on " + p_.device.str());
    if (p_.resume_from && writer()) {
      truncate_metrics(metrics_, p_.start_step);
      log_.line("resuming " + run_dir_ + " from " + *p_.resume_from + " (step " + std::to_string(p_.start_step) + ")");
      for (const auto& a : p_.changes.applied) log_.line("  changed: " + a);
      for (const auto& n : p_.changes.notes) log_.line("  note: " + n);
    }
    log_.line("ttt-train " + code_version() + ": " + std::to_string(model_.num_parameters()) + " parameters on " +
              p_.device.str() + "; data " + data_.describe() + "\n\n" + nn::parameter_table(model_, 2) + "\n" + p_.report.str() +
              adamw_.groups_report() + p_.memory.str());
    if (!p_.memory_warning.empty()) log_.line(p_.memory_warning);
    if (p_.init) log_.line(p_.init->str());
    t0_ = last_log_ = profile_t0_ = Clock::now();
    last_log_step_ = p_.start_step;
  }

  // The step's forward and backward (run.num_microbatches of them, or the CUDA graph); returns
  // the sum of the micro-batches' losses (on the device: read after the gradient norm is queued).
  Tensor forward_backward(int64_t step) {
    const Device device = p_.device;
    if (!use_graph_) {
      Tensor loss_sum;
      for (int64_t m = 0; m < c_.run.num_microbatches; ++m) {
        Batch b = data_.batch(step * c_.run.num_microbatches + m, false);
        const HybridLM::LossTargets prepared = model_.loss_targets(b.targets);  // built on the host (the depformer's)
        Tensor loss = model_.loss(to_device(b.inputs, device), to_device(b.targets, device), to_device(prepared, device)).total;
        // several GPUs: each rank's share of the mean, so the all-reduced sum is the global mean
        const Tensor share = loss * (1.0 / static_cast<double>(c_.run.num_microbatches * world()));
        // the last micro-batch completes the gradients: the overlapped all-reduce hooks in there
        const bool last = m + 1 == c_.run.num_microbatches;
        backward(share, reducer_ && last ? reducer_->hook() : LeafGradReady());
        loss_sum = loss_sum.defined() ? add(loss_sum.detach(), loss.detach()) : loss.detach();
      }
      if (p_.collectives) loss_sum = all_reduce_step(loss_sum);
      return loss_sum;
    }
    // run.cuda_graph: two steps run as usual (they fill the allocator's cache and the cached
    // constants), the third is recorded into a CUDA graph, and every step from then on replays it
    // on fixed input buffers (core/cuda_graph.h). The graph rewrites the gradients in place.
    Batch b = data_.batch(step, false);
    const HybridLM::LossTargets prepared = model_.loss_targets(b.targets);
    if (!graph_inputs_.defined()) {
      graph_inputs_ = to_device(b.inputs, device);
      graph_targets_ = to_device(b.targets, device);
      graph_prepared_ = to_device(prepared, device);
    } else {
      copy_into(graph_inputs_, b.inputs);
      copy_into(graph_targets_, b.targets);
      if (prepared.targets.defined()) {
        copy_into(graph_prepared_.targets, prepared.targets);
        copy_into(graph_prepared_.weights, prepared.weights);
      }
    }
    // several GPUs: the stop flag goes in through a fixed buffer too, and the gradients' and the
    // loss's sums are part of the graph (NCCL records into it)
    if (p_.collectives) {
      if (!graph_flag_.defined()) graph_flag_ = zeros({1}, DType::f32, device);
      copy_into(graph_flag_, full({1}, StopSignals::requested() ? 1.0 : 0.0, DType::f32, device));  // on the device: no host sync
    }
    auto work = [&] {
      graph_loss_ = model_.loss(graph_inputs_, graph_targets_, graph_prepared_).total;
      if (!reducer_) {
        backward(graph_loss_);
      } else {
        backward(graph_loss_ * (1.0 / static_cast<double>(world())), reducer_->hook());
        reducer_->finish();
        graph_packed_ = cat({reshape(to_dtype(graph_loss_.detach(), DType::f32), {1}), graph_flag_}, 0);
        p_.collectives->all_reduce_sum_async({graph_packed_});
        p_.collectives->join();
      }
      graph_norm_ = nn::global_grad_norm(params_, c_.run.max_norm);
    };
    if (step < p_.start_step + 2) {
      work();
    } else {
      if (!graph_.captured()) graph_.capture(work);
      graph_.replay();
    }
    if (!reducer_) return graph_loss_.detach();
    p_.collectives->wait_for_device_work();  // a dead rank ends here with a message, not in a hang
    return mean_loss_and_stop_flag(graph_packed_);
  }

  // After the first step: every trainable parameter must have received a gradient.
  void audit_gradient_flow() {
    if (c_.run.grad_audit == GradAudit::off) return;
    auto problems = nn::audit_gradient_flow(model_);
    const std::string text = nn::format_gradient_flow(problems);
    if (problems.empty()) return log_.line(text);
    TTT_CHECK(c_.run.grad_audit != GradAudit::error, "gradient-flow audit", "\n", text,
              "(set run.grad_audit=warn to train anyway)");
    log_.line("warning: " + text);
  }

  // TTT_FAULT=nan_grad:N (train/faults.h)
  void poison_first_gradient() {
    for (const Tensor& param : params_)
      if (param.grad().defined()) {
        copy_into(param.grad(), full(param.shape(), NAN, param.dtype(), param.device()));  // in place: a graph's gradient stays
        return;
      }
  }

  // run.nonfinite: stop names the first parameter with a non-finite gradient and the last good
  // checkpoint; skip counts the step and goes on.
  void skip_nonfinite_step() {
    if (c_.run.nonfinite == NonFinite::stop) {
      std::string first = "none (the loss itself)";
      for (auto& [name, param] : model_.named_parameters()) {
        if (!param.grad().defined()) continue;
        std::vector<double> g = param.grad().to_vector<double>();
        if (std::any_of(g.begin(), g.end(), [](double v) { return !std::isfinite(v); })) {
          first = name;
          break;
        }
      }
      auto last = latest_checkpoint(run_dir_);
      fail("training",
           cat_str("step ", state_.step, ": non-finite loss or gradient; first parameter with a non-finite gradient: ", first,
                   ". The last good checkpoint is ", last ? *last : std::string("(none yet)"),
                   ". Lower optim.lr, clip with run.max_norm, or set run.nonfinite=skip to skip such steps"));
    }
    ++skipped_steps_;
    if (writer()) append_metrics(metrics_, {{"step", state_.step}, {"skipped_nonfinite", skipped_steps_}});
    log_.line("step " + std::to_string(state_.step) + ": non-finite loss or gradient, step skipped (" +
              std::to_string(skipped_steps_) + " so far)");
  }

  void log_step(double lr, double loss, double grad_norm) {
    if (!writer()) return;  // rank 0 speaks for the run
    if (state_.step % c_.run.log_freq != 0 && state_.step != c_.run.max_steps) return;
    last_loss_ = loss;
    const auto now = Clock::now();
    const double secs = std::chrono::duration<double>(now - last_log_).count();
    const int64_t tokens_per_step = c_.run.batch_size * c_.run.seq_len * c_.run.num_microbatches * world();
    const double tok_s = secs > 0 ? static_cast<double>((state_.step - last_log_step_) * tokens_per_step) / secs : 0;
    last_log_ = now;
    last_log_step_ = state_.step;
    append_metrics(metrics_, {{"step", state_.step},
                              {"loss", loss},
                              {"lr", lr},
                              {"grad_norm", grad_norm},
                              {"tokens_per_s", std::round(tok_s * 10) / 10},
                              {"elapsed_s", std::round(std::chrono::duration<double>(now - t0_).count() * 1000) / 1000}});
    char line[256];
    std::snprintf(line, sizeof line, "step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | %s",
                  static_cast<long long>(state_.step), static_cast<long long>(c_.run.max_steps), loss, lr, grad_norm, tok_s,
                  memory_str(p_.device).c_str());
    // several GPUs: this step's all-reduce, and how much of it backward hid
    const std::string reduce = reducer_ ? reducer_->last_overlap_str() : "";
    log_.progress(reduce.empty() ? std::string(line) : std::string(line) + " | " + reduce);
    if (!memory_reported_ && p_.device.is_cuda()) report_measured_memory();
  }

  // Once, at the first logged step on a GPU: the allocator's peak beside the meta-device estimate,
  // in the estimate's parts (parameters, gradients and AdamW state are their sizes; activations are
  // the rest of the peak).
  void report_measured_memory() {
    memory_reported_ = true;
    const MemoryEstimate& e = p_.memory;
    const double gib = 1024.0 * 1024.0 * 1024.0;
    const double peak = static_cast<double>(cuda::allocator_stats().peak_bytes) / gib;
    const double resident = static_cast<double>(e.parameters + e.gradients + e.optimizer) / gib;
    char text[320];
    std::snprintf(text, sizeof text,
                  "memory measured by step %lld: peak %.2f GiB (estimate %.2f GiB) = parameters, gradients and AdamW "
                  "state %.2f GiB + activations %.2f GiB (estimate %.2f GiB)",
                  static_cast<long long>(state_.step), peak, static_cast<double>(e.total()) / gib, resident,
                  std::max(0.0, peak - resident), static_cast<double>(e.activations) / gib);
    log_.line(text);
    append_metrics(metrics_, {{"step", state_.step},
                              {"memory_peak_mib", std::round(peak * 1024.0 * 10) / 10},
                              {"memory_estimate_mib", std::round(static_cast<double>(e.total()) / 1048576.0 * 10) / 10}});
  }

  void evaluate_if_due() {
    const bool due = (c_.run.eval_freq > 0 && state_.step % c_.run.eval_freq == 0) || state_.step == c_.run.max_steps;
    if (!due || !writer()) return;
    if (!data_.has_validation()) {
      if (state_.step == c_.run.max_steps) log_.line("no evaluation: data.val_fraction is 0, so there is no validation split");
      return;
    }
    profile::Region region("evaluation");
    EvalResult e = evaluate(model_, p_.eval_data ? *p_.eval_data : data_, c_, p_.device);
    append_metrics(metrics_, {{"step", state_.step}, {"eval_loss", e.loss}, {"eval_accuracy", e.accuracy}});
    char line[160];
    std::snprintf(line, sizeof line, "eval at step %lld: loss %.4f, accuracy %.3f over %lld targets",
                  static_cast<long long>(state_.step), e.loss, e.accuracy, static_cast<long long>(e.counted));
    log_.line(line);
  }

  // Writes the checkpoint when one is due (run.ckpt_freq, the last step, a stop); returns the exit
  // code when the run stops here (run.stop_at_step, or a signal: 128 + the signal), else -1.
  int checkpoint_and_maybe_stop() {
    // several GPUs: every rank stops after the same step when any was signalled, as the step's
    // all-reduce agreed (a signal arriving after it counts at the next step: the ranks must agree,
    // for the checkpoint's collectives too)
    const int signal = !p_.dist.active() ? StopSignals::requested()
                       : stop_requested_ ? (StopSignals::requested() ? StopSignals::requested() : SIGTERM)
                                         : 0;
    const bool stop_now = c_.run.stop_at_step > 0 && state_.step == c_.run.stop_at_step;
    const bool due = (c_.run.ckpt_freq > 0 && state_.step % c_.run.ckpt_freq == 0) || state_.step == c_.run.max_steps ||
                     stop_now || signal != 0;
    std::string saved_to;
    if (due) {
      profile::Region region("checkpoint");
      std::vector<nn::NamedTensor> optimizer_state = sharded() ? gather_optimizer_state() : std::vector<nn::NamedTensor>{};
      if (writer())
        saved_to = sharded() ? save_checkpoint(run_dir_, model_, optimizer_state, state_, c_.run.num_ckpt_keep, opt_.faults)
                             : save_checkpoint(run_dir_, model_, adamw_, state_, c_.run.num_ckpt_keep, opt_.faults);
    }
    if (signal != 0) {
      log_.line("stopped by " + std::string(StopSignals::name(signal)) + " after step " + std::to_string(state_.step) +
                "; checkpoint " + saved_to + " written. Continue with: ttt-train --resume " + run_dir_);
      return 128 + signal;
    }
    if (stop_now) {
      log_.line("stopped after step " + std::to_string(state_.step) + " as run.stop_at_step asks; continue with --resume " +
                run_dir_);
      return 0;
    }
    return -1;
  }

  // The summary line and the loss curve.
  void finish() {
    if (!writer()) return;
    const double total = std::chrono::duration<double>(Clock::now() - t0_).count();
    log_.line("done: " + std::to_string(c_.run.max_steps - p_.start_step) + " steps in " + fmt("%.1f", total) + " s; last loss " +
              fmt("%.4f", last_loss_) + "; checkpoints, metrics.jsonl, train.log and config.yaml in " + run_dir_);
    const std::string png = (fs::path(run_dir_) / "loss.png").string();
    if (plot_loss_curve(metrics_, png))
      log_.line("loss curve: " + png);
    else
      log_.line("(no loss plot: tools/plot_loss.py needs python3 with matplotlib, see tools/setup.sh)");
  }

  const TrainConfig& c_;
  const TrainOptions& opt_;
  const std::string run_dir_;
  Prepared& p_;
  RunLog& log_;
  HybridLM& model_;
  nn::AdamW& adamw_;
  DataSource& data_;
  const std::vector<Tensor> params_;
  const std::string metrics_;
  const bool use_graph_;
  TrainerState state_;
  StopSignals signals_;  // while the loop runs, SIGINT/SIGTERM/SIGHUP end it with a checkpoint
  CudaGraph graph_;
  Tensor graph_inputs_, graph_targets_, graph_loss_;
  Tensor graph_flag_, graph_packed_;  // several GPUs: the stop flag in, [loss sum, flag sum] out
  HybridLM::LossTargets graph_prepared_;
  nn::GradNorm graph_norm_;
  Clock::time_point t0_, last_log_, profile_t0_;
  int64_t last_log_step_ = 0, skipped_steps_ = 0;
  bool stop_requested_ = false;               // a signal reached some rank (several GPUs)
  bool memory_reported_ = false;              // report_measured_memory ran
  std::unique_ptr<GradientReducer> reducer_;  // several GPUs: the gradients' all-reduce

  bool writer() const { return p_.dist.rank == 0; }  // rank 0 owns the run directory
  bool sharded() const { return adamw_.shard().world > 1; }

  // ZeRO-1, after each rank updated the parameters it owns: every parameter from its owner.
  void broadcast_updated_parameters() {
    std::vector<Tensor> params;
    std::vector<int> roots;
    for (const auto& o : adamw_.owners()) {
      params.push_back(o.param);
      roots.push_back(o.owner);
    }
    p_.collectives->broadcast(params, roots);
  }

  // ZeRO-1, for a checkpoint: the whole AdamW state in the unsharded order, on rank 0's host (one
  // tensor at a time through rank 0's GPU: its memory never holds the others' shares at once);
  // every rank takes part, and the others get an empty list.
  std::vector<nn::NamedTensor> gather_optimizer_state() {
    const std::vector<nn::NamedTensor> mine = adamw_.state_dict();  // "step", then this rank's moments
    std::map<std::string, Tensor> own(mine.begin(), mine.end());
    std::vector<nn::NamedTensor> whole{mine.front()};
    for (const auto& o : adamw_.owners())
      for (const char* moment : {"exp_avg.", "exp_avg_sq."}) {
        const std::string key = moment + o.name;
        Tensor t = o.owner == p_.dist.rank ? own.at(key) : writer() ? empty(o.param.shape(), DType::f32, p_.device) : Tensor();
        p_.collectives->copy_to_rank0(t, o.owner);
        if (writer()) whole.emplace_back(key, to_device(t, Device::cpu()));
      }
    return writer() ? whole : std::vector<nn::NamedTensor>{};
  }
  int64_t world() const { return p_.dist.active() ? p_.dist.world_size : 1; }

  // Several GPUs, after backward: every trainable gradient summed across the ranks (each rank's
  // loss was scaled by 1 / world, so the sum is the global mean), with the step's loss and a stop
  // flag in the same NCCL group. Returns the mean loss over the ranks.
  Tensor all_reduce_step(const Tensor& loss_sum) {
    reducer_->finish();
    const Tensor flag = full({1}, StopSignals::requested() ? 1.0 : 0.0, DType::f32, p_.device);
    Tensor packed = cat({reshape(to_dtype(loss_sum, DType::f32), {1}), flag}, 0);
    p_.collectives->all_reduce_sum({packed});
    return mean_loss_and_stop_flag(packed);
  }

  // [the ranks' summed loss, how many ranks were signalled]: the mean loss, and the stop decision
  Tensor mean_loss_and_stop_flag(const Tensor& packed) {
    const std::vector<double> host = packed.to_vector<double>();
    stop_requested_ = host[1] > 0;
    return full({}, host[0] / static_cast<double>(world()), DType::f32, p_.device);
  }
  double last_loss_ = NAN;
};

}  // namespace

int run_training(const TrainConfig& c, const TrainOptions& opt) {
  if (opt.dry_run) return dry_run(c, opt);

  Prepared p;
  p.dist = distributed_env();  // several GPUs: this process's rank (train/distributed.h)
  if (!p.dist.active() && c.run.devices.size() > 1) return launch_local_workers(c, opt);
  const bool writer = p.dist.rank == 0;  // rank 0 owns the run directory; the others never write there

  const bool resuming = !opt.resume_dir.empty();
  const std::string run_dir = resuming ? opt.resume_dir : c.run.run_dir;
  const ExistingRunDir existing = c.run.existing_run_dir;
  RunDirLock lock;
  if (resuming && !writer) {  // read only: rank 0 holds the lock
    p.resume_from = latest_checkpoint(run_dir);
    TTT_CHECK(p.resume_from.has_value(), "--resume", "'", run_dir, "' has no complete checkpoint to resume from");
    p.saved = read_trainer_state(*p.resume_from);
    if (p.saved.step >= c.run.max_steps) return 0;
  } else if (resuming) {
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
  } else if (writer) {
    check_new_run_dir(run_dir, existing, kSourceDir);
  }

  compute::set_matmul_precision(c.run.matmul_precision);
  // bf16 activations for every forward of this run (training and evaluation): nn/precision.h
  nn::ActivationScope activations(c.run.activations == Activations::bf16 ? DType::bf16 : DType::f32);
  prepare(c, opt, p);

  // ---- the run directory: from here on, files are written ----
  if (!resuming && writer) lock = create_run_dir(run_dir, existing, kSourceDir);
  RunLog log;
  if (writer)
    log.open((fs::path(run_dir) / "train.log").string());
  else
    log.quiet();  // rank 0 speaks for the run; errors still reach stderr
  try {
    return Trainer(c, opt, run_dir, p, log).run();
  } catch (const std::exception& e) {
    log.file_only(std::string("error: ") + e.what());  // main prints it to stderr
    throw;
  }
}

}  // namespace ttt
