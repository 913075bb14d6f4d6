#include "train/resume_check.h"

#include <set>

#include "core/error.h"

namespace ttt {

namespace {

// Keys that only say how long to train and how to report: continuing with a new value is the
// same experiment, extended.
const std::set<std::string> kSafe = {"run.max_steps",      "run.log_freq",      "run.eval_freq",      "run.eval_batches",
                                     "run.ckpt_freq",      "run.num_ckpt_keep", "run.stop_at_step",   "run.device",
                                     "run.grad_audit",     "run.nonfinite",     "run.run_dir",        "run.existing_run_dir",
                                     "run.cuda_graph",     "run.memory_check",  "run.devices",        "run.collective_timeout_s",
                                     "run.overlap_reduce", "run.bucket_mb",     "run.shard_optimizer"};

// Keys that set a parameter's shape: the checkpoint cannot be loaded into the changed model.
const std::set<std::string> kShape = {"model.width",         "model.num_layers",     "model.num_heads",     "model.ffn_hidden",
                                      "model.hybrid_layers", "model.text_vocab",     "model.audio_streams", "model.audio_vocab",
                                      "model.bidirectional", "model.ttt_input_norm", "ttt.variant",         "ttt.width",
                                      "ttt.heads",           "ttt.mlp_expansion",    "ttt.mlp_dims",        "ttt.lr_gate"};

bool allowed_by(const std::string& key, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (key == a || key.rfind(a + ".", 0) == 0) return true;
  return false;
}

std::string value_or_absent(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "(not set)" : it->second;
}

}  // namespace

ResumeChanges check_resume(const TrainerState& saved, const std::map<std::string, std::string>& resolved_now,
                           const std::map<std::string, std::string>& data_now, const std::string& code_version_now,
                           const std::vector<std::string>& allowed, const std::map<std::string, std::string>& defaults) {
  TTT_CHECK(!saved.resolved_config.empty(), "--resume",
            "the checkpoint stores no resolved config (written by an older ttt-train): it cannot be checked; start a new run");
  ResumeChanges out;
  std::vector<std::string> shape, refused;
  std::set<std::string> keys;
  for (const auto& [k, v] : saved.resolved_config) keys.insert(k);
  for (const auto& [k, v] : resolved_now) keys.insert(k);
  for (const std::string& key : keys) {
    const std::string before = value_or_absent(saved.resolved_config, key), now = value_or_absent(resolved_now, key);
    if (before == now) continue;
    // a key newer than the checkpoint, at its default: the run means what it meant then
    if (!saved.resolved_config.count(key) && defaults.count(key) && defaults.at(key) == now) continue;
    const std::string line = key + ": checkpoint " + before + ", now " + now;
    // another number of GPUs with the same global batch sees the same rows: the same run
    const bool same_global_batch = saved.resolved_config.count(kGlobalBatchKey) && resolved_now.count(kGlobalBatchKey) &&
                                   saved.resolved_config.at(kGlobalBatchKey) == resolved_now.at(kGlobalBatchKey);
    if (key == "run.batch_size" && same_global_batch) {
      out.applied.push_back(line + " (per GPU; the global batch is unchanged: " + resolved_now.at(kGlobalBatchKey) + ")");
      continue;
    }
    if (key == kGlobalBatchKey && !saved.resolved_config.count(key)) continue;  // a checkpoint from before it was recorded
    if (key == kGlobalBatchKey) {
      refused.push_back(line + " (run.batch_size x the number of GPUs: keep it to continue the same run)");
      continue;
    }
    if (kShape.count(key))
      shape.push_back(line);
    else if (kSafe.count(key) || allowed_by(key, allowed))
      out.applied.push_back(line);
    else
      refused.push_back(line);
  }
  // the data itself: a file that changed under the same path is another experiment too
  std::set<std::string> data_keys;
  for (const auto& [k, v] : saved.data_identity) data_keys.insert(k);
  for (const auto& [k, v] : data_now) data_keys.insert(k);
  for (const std::string& k : data_keys) {
    const std::string before = value_or_absent(saved.data_identity, k), now = value_or_absent(data_now, k);
    if (before == now) continue;
    const std::string line = "data (the file's " + k + "): checkpoint " + before + ", now " + now;
    (allowed_by("data", allowed) ? out.applied : refused).push_back(line);
  }
  if (!saved.code_version.empty() && saved.code_version != code_version_now)
    out.notes.push_back("the checkpoint was written by ttt.cpp " + saved.code_version + "; this is " + code_version_now);
  if (!shape.empty() || !refused.empty()) {
    std::string msg = "the run would not continue the same experiment; nothing was changed:";
    for (const auto& l : shape) msg += "\n  " + l + "  (a parameter's shape: the checkpoint cannot be loaded)";
    for (const auto& l : refused) msg += "\n  " + l;
    if (!refused.empty())
      msg += "\nIf you mean it, name each key (or its section) with --allow-config-change KEY; or start a new run.";
    fail("--resume", msg);
  }
  return out;
}

}  // namespace ttt
