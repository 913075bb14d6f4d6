#include "train/config.h"

#include <algorithm>

#include "core/error.h"
#include "core/files.h"
#include "train/ttt_yaml.h"
#include "train/yaml_reader.h"

namespace ttt {

namespace {

constexpr int64_t kBig = int64_t{1} << 40;
constexpr int64_t kMaxSteps = 99999999;  // checkpoint folders are named with 8 digits

// A copy without source marks, so messages about overridden values say "(command line)".
YAML::Node without_marks(const YAML::Node& n) {
  if (n.IsScalar()) return YAML::Node(n.Scalar());
  YAML::Node out(n.IsSequence() ? YAML::NodeType::Sequence : n.IsMap() ? YAML::NodeType::Map : YAML::NodeType::Null);
  if (n.IsSequence())  // (an empty list stays a list: run.devices=[])
    for (const auto& e : n) out.push_back(without_marks(e));
  else if (n.IsMap())
    for (const auto& kv : n) out[kv.first.Scalar()] = without_marks(kv.second);
  return out;
}

void apply_override(YAML::Node& root, const std::string& assignment, Problems& problems) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    problems.push_back("override '" + assignment + "': expected key.path=value");
    return;
  }
  const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  YAML::Node cur = root;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (key.empty()) {
      problems.push_back("override '" + assignment + "': empty key in '" + path + "'");
      return;
    }
    if (dot == std::string::npos) {
      YAML::Node parsed;
      try {
        parsed = YAML::Load(value);
      } catch (const YAML::Exception&) {
        parsed = YAML::Node(value);
      }
      const bool section = start == 0 || (cur[key] && cur[key].IsMap());
      if (parsed.IsMap() && section) {
        std::string example = path + ".KEY=VALUE";
        if (parsed.size() > 0) {
          const auto first = *parsed.begin();
          example = path + "." + first.first.Scalar() + "=" + (first.second.IsScalar() ? first.second.Scalar() : "...");
        }
        problems.push_back("override '" + assignment + "': this would replace the whole section '" + path +
                           "' (every key it does not name would fall back to its default); set keys one by one, e.g. " + example);
        return;
      }
      cur[key] = without_marks(parsed);
      return;
    }
    if (cur[key] && !cur[key].IsMap()) {
      problems.push_back("override '" + assignment + "': '" + path.substr(0, dot) + "' is not a section");
      return;
    }
    YAML::Node next = cur[key];
    cur.reset(next);
    start = dot + 1;
  }
}

nn::Selector read_selector(YamlSection& s) {
  nn::Selector sel;
  s.get("name", sel.name);
  s.get("kind", sel.kind);
  if (sel.name.empty() && sel.kind.empty())
    s.problems().push_back(s.path("name") + ": a rule needs a name glob, a module kind, or both");
  return sel;
}

void read_model(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "model", p);
  ModelConfig& m = c.model;
  s.get("width", m.width, 1, kBig);
  s.get("num_layers", m.num_layers, 1, 4096);
  s.get("num_heads", m.num_heads, 1, 4096);
  s.get("ffn_hidden", m.ffn_hidden, 0, kBig);
  s.get("hybrid_layers", m.hybrid_layers);
  s.get("text_vocab", m.text_vocab, 1, kBig);
  s.get("audio_streams", m.audio_streams, 0, 64);
  s.get("audio_vocab", m.audio_vocab, 0, kBig);
  s.get("context", m.context, 0, kBig);
  s.get("rope_theta", m.rope_theta, 1e-6, 1e12);
  s.get("attention_recompute", m.attention_recompute);
  s.get("checkpoint_layers", m.checkpoint_layers);
  s.get("checkpoint_ttt", m.checkpoint_ttt);
  s.get("checkpoint_ttt_layers", m.checkpoint_ttt_layers);
  s.get("norm_eps", m.norm_eps, 0.0, 1.0);
  s.get("causal", m.causal);
  s.get("bidirectional", m.bidirectional);
  s.get("ttt_input_norm", m.ttt_input_norm);
  s.get("gate_init", m.gate_init, -10.0, 10.0);
  s.get("gate_clamp", m.gate_clamp, 0.0, 100.0);
  s.get("stream_weights", m.stream_weights);
  s.get("audio_head", m.audio_head);
  YamlSection d(s.node("depformer"), "model.depformer", p);  // ttt/depformer.h
  DepformerConfig& dep = m.depformer;
  d.get("dim", dep.dim, 1, kBig);
  d.get("num_layers", dep.num_layers, 1, 4096);
  d.get("num_heads", dep.num_heads, 1, 4096);
  d.get("ffn_hidden", dep.ffn_hidden, 1, kBig);
  d.get("steps", dep.steps, 1, 64);
  d.get("context", dep.context, 1, kBig);
  d.get("schedule", dep.schedule);
  d.get("multi_linear", dep.multi_linear);
  d.finish();
  YamlSection l(s.node("loss"), "model.loss", p);  // MoshiLossConfig (ttt/model.h)
  MoshiLossConfig& loss = m.moshi_loss;
  l.get("text_weight", loss.text_weight, 0.0, 1e6);
  l.get("audio_weight", loss.audio_weight, 0.0, 1e6);
  l.get("first_codebook_weight", loss.first_codebook_weight, 0.0, 1e6);
  l.get("text_padding_ids", loss.text_padding_ids);
  l.get("text_padding_weight", loss.text_padding_weight, 0.0, 1e6);
  l.finish();
  if (m.audio_head != AudioHead::depformer)
    for (const char* key : {"depformer", "loss"})
      if (s.has(key))
        p.push_back(yaml_place(s.node(key), std::string("model.") + key) +
                    ": only used with model.audio_head: depformer (it is linear)");
  s.get("init_from", c.init.from);
  s.get("init_strict", c.init.strict);
  s.finish();
}

void read_trainable(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "trainable", p);
  int64_t expected = -1;
  s.get("expected_trainable", expected, 0, int64_t{1} << 50);
  if (expected >= 0) c.trainable.expected_trainable = expected;
  s.get("frozen_dtype", c.frozen_dtype);
  s.record_node("rules");
  const YAML::Node rules = s.node("rules");
  if (rules && !rules.IsSequence()) p.push_back(yaml_place(rules, "trainable.rules") + ": expected a list of rules");
  if (rules && rules.IsSequence())
    for (size_t i = 0; i < rules.size(); ++i) {
      YamlSection r(rules[i], "trainable.rules[" + std::to_string(i) + "]", p);
      nn::PolicyRule rule;
      rule.select = read_selector(r);
      if (!r.has("train")) p.push_back(yaml_place(rules[i], r.path("train")) + ": every rule needs train: true or false");
      r.get("train", rule.requires_grad);
      r.finish();
      c.trainable.rules.push_back(rule);
    }
  s.finish();
}

void read_optim(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "optim", p);
  s.get("lr", c.lr, 1e-12, 10.0);
  s.get("weight_decay", c.optim.weight_decay, 0.0, 10.0);
  s.get("beta1", c.optim.beta1, 0.0, 0.999999);
  s.get("beta2", c.optim.beta2, 0.0, 0.99999999);
  s.get("eps", c.optim.eps, 0.0, 1.0);
  s.record_node("groups");
  const YAML::Node groups = s.node("groups");
  if (groups && !groups.IsSequence()) p.push_back(yaml_place(groups, "optim.groups") + ": expected a list of group rules");
  if (groups && groups.IsSequence())
    for (size_t i = 0; i < groups.size(); ++i) {
      YamlSection g(groups[i], "optim.groups[" + std::to_string(i) + "]", p);
      nn::ParamGroupRule rule;
      rule.select = read_selector(g);
      double wd = -1, scale = -1;
      g.get("weight_decay", wd, 0.0, 10.0);
      g.get("lr_scale", scale, 0.0, 1e6);
      if (wd >= 0) rule.weight_decay = wd;
      if (scale >= 0) rule.lr_scale = scale;
      g.finish();
      c.groups.push_back(rule);
    }
  s.finish();
}

void read_schedule(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "schedule", p);
  nn::Schedule& sc = c.schedule;
  s.get("kind", sc.kind);
  s.get("warmup_steps", sc.warmup_steps, 0, kBig);
  s.get("min_lr", sc.min_lr, 0.0, 10.0);
  s.get("pct_start", sc.pct_start, 1e-6, 1 - 1e-6);
  s.get("div_factor", sc.div_factor, 1.0, 1e9);
  s.get("final_div_factor", sc.final_div_factor, 1.0, 1e12);
  s.finish();
}

void read_data(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "data", p);
  DataConfig& d = c.data;
  s.get("source", d.source);
  s.get("path", d.path);
  s.get("val_fraction", d.val_fraction, 0.0, 0.9);
  s.get("delays", d.delays);
  YamlSection r(s.node("recall"), "data.recall", p);
  r.get("num_pairs", d.recall.num_pairs, 1, 1 << 20);
  r.get("num_keys", d.recall.num_keys, 1, 1 << 20);
  r.get("num_values", d.recall.num_values, 1, 1 << 20);
  r.finish();
  s.finish();
}

void read_run(const YAML::Node& node, TrainConfig& c, Problems& p) {
  YamlSection s(node, "run", p);
  RunConfig& r = c.run;
  s.get("run_dir", r.run_dir);
  if (s.has("overwrite_run_dir"))
    p.push_back(yaml_place(s.node("overwrite_run_dir"), "run.overwrite_run_dir") +
                ": replaced by run.existing_run_dir: refuse | move_aside | delete (an earlier run is never deleted "
                "unless asked by name: move_aside renames it to NAME.old-<time>)");
  s.get("existing_run_dir", r.existing_run_dir);
  int64_t seed = static_cast<int64_t>(r.seed);
  s.get("seed", seed, 0, kBig);
  r.seed = static_cast<uint64_t>(seed);
  s.get("max_steps", r.max_steps, 1, kMaxSteps);
  s.get("batch_size", r.batch_size, 1, 1 << 20);
  s.get("seq_len", r.seq_len, 1, 1 << 24);
  s.get("num_microbatches", r.num_microbatches, 1, 1 << 16);
  s.get("max_norm", r.max_norm, 0.0, 1e9);
  s.get("log_freq", r.log_freq, 1, kBig);
  s.get("eval_freq", r.eval_freq, 0, kBig);
  s.get("eval_batches", r.eval_batches, 1, 1 << 20);
  s.get("ckpt_freq", r.ckpt_freq, 0, kBig);
  s.get("num_ckpt_keep", r.num_ckpt_keep, 1, 1 << 20);
  s.get("device", r.device);
  s.get("devices", r.devices);
  s.get("reduce_dtype", r.reduce_dtype, {"f32", "bf16"});
  s.get("overlap_reduce", r.overlap_reduce);
  s.get("bucket_mb", r.bucket_mb, 0.001, 1 << 20);
  s.get("shard_optimizer", r.shard_optimizer);
  s.get("collective_timeout_s", r.collective_timeout_s, 10.0, 7 * 86400.0);
  s.get("grad_audit", r.grad_audit);
  s.get("stop_at_step", r.stop_at_step, 0, kMaxSteps);
  s.get("nonfinite", r.nonfinite);
  s.get("matmul_precision", r.matmul_precision);
  s.get("activations", r.activations);
  s.get("cuda_graph", r.cuda_graph);
  s.get("memory_check", r.memory_check);
  s.finish();
  if (r.cuda_graph && r.num_microbatches != 1)
    p.push_back(yaml_place(node["cuda_graph"], "run.cuda_graph") +
                ": the graph records one forward and backward; set run.num_microbatches to 1 (it is " +
                std::to_string(r.num_microbatches) + ")");
  if (r.device != "auto") {
    try {
      Device::parse(r.device);
    } catch (const Error&) {
      p.push_back(yaml_place(node["device"], "run.device") + ": '" + r.device + "' is not auto, cpu, cuda or cuda:N");
    }
  }
  if (r.run_dir.empty()) p.push_back("run.run_dir: must not be empty");
  for (size_t i = 0; i < r.devices.size(); ++i) {
    if (r.devices[i] < 0 || r.devices[i] > 1023)
      p.push_back(yaml_place(node["devices"], "run.devices") + ": " + std::to_string(r.devices[i]) + " is not a GPU index");
    for (size_t j = 0; j < i; ++j)
      if (r.devices[j] == r.devices[i])
        p.push_back(yaml_place(node["devices"], "run.devices") + ": GPU " + std::to_string(r.devices[i]) + " is listed twice");
  }
  if (r.stop_at_step > r.max_steps)
    p.push_back(yaml_place(node["stop_at_step"], "run.stop_at_step") + ": " + std::to_string(r.stop_at_step) +
                " is after run.max_steps " + std::to_string(r.max_steps) + ", so it would never stop the run");
}

// A run that starts from model.init_from with no trainable.rules trains what it added: the TTT
// branches and their gates (everything, when there are none).
void default_policy_for_init(TrainConfig& c) {
  if (c.init.from.empty() || !c.trainable.rules.empty() || c.model.hybrid_layers.empty()) return;
  auto rule = [](const std::string& glob, bool train) {
    nn::PolicyRule r;
    r.select.name = glob;
    r.requires_grad = train;
    return r;
  };
  c.trainable.rules = {rule("**", false), rule("**.ttt.**", true), rule("**.forward_ssm_gating.**", true)};
  if (c.model.bidirectional) c.trainable.rules.push_back(rule("**.backward_ssm_gating.**", true));
  if (c.model.ttt_input_norm) c.trainable.rules.push_back(rule("**.norm_ttt.**", true));
}

// Rules that involve several sections.
void cross_checks(TrainConfig& c, Problems& p) {
  default_policy_for_init(c);
  for (auto& m : model_config_problems(c.model)) p.push_back(m);
  const DataConfig& d = c.data;
  if (d.source != DataSourceKind::recall && d.path.empty())
    p.push_back(std::string("data.path: the ") + enum_name(d.source) + " source needs a file path");
  if (d.source == DataSourceKind::recall) {
    if (c.model.audio_streams != 0) p.push_back("model.audio_streams: the recall task has one stream (set 0)");
    const int64_t need = d.recall.num_keys + d.recall.num_values;
    if (c.model.text_vocab < need)
      p.push_back("model.text_vocab: the recall task needs num_keys + num_values = " + std::to_string(need) + " tokens");
    if (d.recall.num_pairs > d.recall.num_keys) p.push_back("data.recall.num_pairs: cannot exceed num_keys (keys are distinct)");
    if (c.run.seq_len < 2 * d.recall.num_pairs + 2)
      p.push_back("run.seq_len: the recall task needs at least 2 * num_pairs + 2 = " +
                  std::to_string(2 * d.recall.num_pairs + 2) + " tokens (pairs, then queries)");
  }
  if (!d.delays.empty()) {
    if (d.source != DataSourceKind::tokens) p.push_back("data.delays: only the tokens source has several streams to delay");
    if (static_cast<int64_t>(d.delays.size()) != c.model.num_streams())
      p.push_back("data.delays: needs one delay per stream (" + std::to_string(c.model.num_streams()) + ")");
    for (int64_t v : d.delays)
      if (v < 0 || v >= c.run.seq_len) p.push_back("data.delays: " + std::to_string(v) + " is outside [0, run.seq_len)");
  }
  if (d.source == DataSourceKind::text && c.model.text_vocab < 256)
    p.push_back("model.text_vocab: byte-level text needs at least 256");
  c.schedule.lr = c.lr;
  c.schedule.total_steps = c.run.max_steps;
  if ((c.schedule.kind == nn::ScheduleKind::cosine || c.schedule.kind == nn::ScheduleKind::linear) && c.schedule.min_lr > c.lr)
    p.push_back("schedule.min_lr: " + std::to_string(c.schedule.min_lr) + " is above optim.lr " + std::to_string(c.lr) +
                ", so the learning rate would climb during the run; give a min_lr at or below lr");
  try {
    nn::validate(c.schedule);
  } catch (const Error& e) {
    p.push_back(e.what());
  }
}

}  // namespace

TrainConfig parse_config(const std::string& yaml_text, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail("config " + source,
         "not valid YAML at line " + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  TTT_CHECK(root.IsDefined() && !root.IsNull(), "config " + source,
            "the file is empty (start from configs/tiny.yaml; docs/training.md lists every key)");
  TTT_CHECK(root.IsMap(), "config " + source, "the top level must be a map of sections (model, ttt, run, ...)");
  Problems p;
  find_duplicate_keys(root, "", p);
  if (!p.empty()) {
    std::string msg;
    for (const auto& line : p) msg += "\n  " + line;
    fail("config " + source, std::to_string(p.size()) + " problem(s); nothing was run:" + msg);
  }
  for (const std::string& o : overrides) apply_override(root, o, p);
  TrainConfig c;
  ResolvedRecorder recorder(c.resolved);
  YamlSection top(root, "", p);
  read_model(top.node("model"), c, p);
  TTTConfig ttt_defaults;
  ttt_defaults.width = c.model.width;
  ttt_defaults.heads = c.model.num_heads;
  if (top.has("ttt") || !c.model.hybrid_layers.empty()) {
    c.model.ttt = read_ttt_config(top.node("ttt"), "ttt", p, ttt_defaults);
    if (c.model.ttt.width != c.model.width)
      p.push_back("ttt.width: " + std::to_string(c.model.ttt.width) + " differs from model.width " +
                  std::to_string(c.model.width) + " (leave it out)");
  } else {
    c.model.ttt = ttt_defaults;
  }
  read_trainable(top.node("trainable"), c, p);
  read_optim(top.node("optim"), c, p);
  read_schedule(top.node("schedule"), c, p);
  read_data(top.node("data"), c, p);
  read_run(top.node("run"), c, p);
  // unknown top-level sections (YamlSection prefixes "."): report them plainly
  for (const auto& kv : root) {
    const std::string k = kv.first.Scalar();
    const std::vector<std::string> sections{"model", "ttt", "trainable", "optim", "schedule", "data", "run"};
    if (std::find(sections.begin(), sections.end(), k) == sections.end()) {
      const std::string near = nearest_word(k, sections);
      p.push_back(yaml_place(kv.first, k) + ": unknown section '" + k +
                  "' (expected model, ttt, trainable, optim, schedule, data, run" +
                  (near.empty() ? ")" : "; did you mean '" + near + "'?)"));
    }
  }
  if (p.empty()) cross_checks(c, p);
  if (!p.empty()) {
    std::string msg;
    for (const auto& line : p) msg += "\n  " + line;
    fail("config " + source, std::to_string(p.size()) + " problem(s); nothing was run:" + msg);
  }
  YAML::Emitter out;
  out << root;
  c.resolved_yaml = out.c_str();
  return c;
}

std::map<std::string, std::string> default_resolved_config() { return parse_config("run: {}\n", "(defaults)").resolved; }

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_regular_file(path, "config", 16u << 20), path, overrides);
}

}  // namespace ttt
