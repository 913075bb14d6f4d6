// The catalogue of bad inputs (issue 7): configs, data files, checkpoints and command lines, each
// with its expected exit code and a fragment of its message. None may crash, and none may leave
// output behind: a refused run creates no run directory, and a refused resume changes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>

#include "core/allocator.h"
#include "tests/train/train_runner.h"
#include "train/data.h"

namespace ttt::testing {
namespace {

namespace fs = std::filesystem;

struct BadInput {
  std::string name;
  std::string config;  // written to <case>.yaml when not empty; "{cfg}" in args stands for it
  std::string args;    // "{dir}" stands for the case's scratch directory
  int code;
  std::string fragment;
  std::function<void(const std::string& dir)> setup = nullptr;
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Every file under dir with its size: what a refused command must leave unchanged.
std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir))
  {
    std::string entry = e.path().string();
    if (e.is_regular_file()) entry.append(":").append(std::to_string(e.file_size()));
    else entry.append("/");
    out.insert(entry);
  }
  return out;
}

void write(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

void token_file(const std::string& path, int64_t streams, int64_t steps, uint32_t max_token) {
  TokenFile f;
  f.num_streams = streams;
  for (int64_t i = 0; i < steps * streams; ++i) f.tokens.push_back(static_cast<uint32_t>(i) % (max_token + 1));
  write_token_file(path, f);
}

const std::string R = " run.run_dir={dir}/run";  // the run directory a refused run must not create

std::vector<BadInput> catalogue() {
  const std::string small = kSmallRun;
  return {
      // ---- configs ----
      {"unknown_key", "model:\n  widht: 64\n", "--config {cfg}" + R, 1, "model.widht (line 2:3): unknown key 'widht'"},
      {"wrong_type", "run:\n  batch_size: [1, 2]\n", "--config {cfg}" + R, 1, "run.batch_size (line 2:15): expected an integer, got a list"},
      {"out_of_range", "run:\n  max_steps: 0\n", "--config {cfg}" + R, 1, "run.max_steps (line 2:14): 0 is out of range"},
      {"empty_file", "\n", "--config {cfg}" + R, 1, "the file is empty"},
      {"truncated_yaml", "trainable:\n  rules:\n    - {name: \"**\", train: tr", "--config {cfg}" + R, 1, "not valid YAML at line 3"},
      {"top_level_list", "- model\n- run\n", "--config {cfg}" + R, 1, "the top level must be a map of sections"},
      {"section_not_a_map", "run: 5\n", "--config {cfg}" + R, 1, "run (line 1:6): expected a map of settings"},
      {"unknown_section", "optimizer:\n  lr: 1\n", "--config {cfg}" + R, 1, "unknown section 'optimizer'"},
      {"causal_with_full_ttt", "model:\n  hybrid_layers: [0]\nttt:\n  minibatch_mode: full\n", "--config {cfg}" + R, 1,
       "a causal stack needs ttt.minibatch_mode: causal"},
      {"causal_with_bidirectional", "model:\n  hybrid_layers: [0]\n  bidirectional: true\n", "--config {cfg}" + R, 1,
       "a causal stack cannot have a reversed-sequence TTT branch"},
      {"heads_do_not_divide", "model:\n  width: 30\n  num_heads: 4\n", "--config {cfg}" + R, 1, "width 30 is not divisible by 4"},
      {"hybrid_index_out_of_range", "model:\n  num_layers: 2\n  hybrid_layers: [5]\n", "--config {cfg}" + R, 1,
       "hybrid_layers: index 5 is outside the 2 layers"},
      {"mlp_dims_wrong_ends", "model:\n  hybrid_layers: [0]\nttt:\n  variant: multilayer\n  mlp_dims: [8, 32, 16]\n",
       "--config {cfg}" + R, 1, "mlp_dims must start and end at the head dim 16"},
      {"unknown_variant", "ttt:\n  variant: conv\n", "--config {cfg}" + R, 1, "ttt.variant (line 2:12): 'conv' is not one of linear, mlp, multilayer"},
      {"unknown_schedule", "schedule:\n  kind: exponential\n", "--config {cfg}" + R, 1, "'exponential' is not one of constant, cosine, linear, one_cycle"},
      {"warmup_longer_than_run", "schedule:\n  kind: cosine\n  warmup_steps: 50\nrun:\n  max_steps: 10\n", "--config {cfg}" + R, 1,
       "warmup_steps (50) must be below total_steps (10)"},
      {"policy_rule_matches_nothing", "", "--config configs/tiny.yaml \"trainable.rules=[{name: '**.w1', train: true}]\"" + R + small, 1,
       "rule 0 (train name '**.w1') matches no parameter"},
      {"policy_count_mismatch", "", "--config configs/tiny.yaml trainable.expected_trainable=7" + R + small, 1,
       "the config expects 7"},
      {"policy_count_mismatch_prints_table", "", "--config configs/tiny.yaml trainable.expected_trainable=7" + R + small, 1,
       "module (kind)"},
      {"group_matches_nothing", "", "--config configs/tiny.yaml \"optim.groups=[{kind: TTTLinear, lr_scale: 2}]\"" + R + small, 1,
       "parameter group rule 0 (kind 'TTTLinear' lr_scale=2) matches no trainable parameter"},
      {"rule_without_selector", "trainable:\n  rules:\n    - {train: false}\n", "--config {cfg}" + R, 1,
       "a rule needs a name glob, a module kind, or both"},
      {"rule_without_train", "trainable:\n  rules:\n    - {name: '**'}\n", "--config {cfg}" + R, 1, "every rule needs train: true or false"},
      {"recall_vocab_too_small", "model:\n  text_vocab: 10\n", "--config {cfg}" + R, 1, "the recall task needs num_keys + num_values = 64 tokens"},
      {"recall_sequence_too_short", "run:\n  seq_len: 6\nmodel:\n  text_vocab: 64\n", "--config {cfg}" + R, 1,
       "the recall task needs at least 2 * num_pairs + 2 = 18 tokens"},
      {"bad_device", "run:\n  device: gpu0\n", "--config {cfg}" + R, 1, "run.device (line 2:11): 'gpu0' is not auto, cpu, cuda or cuda:N"},
      {"bad_matmul_precision", "run:\n  matmul_precision: fp8\n", "--config {cfg}" + R, 1,
       "run.matmul_precision (line 2:21): 'fp8' is not one of f32, tf32, bf16"},
      {"bad_activations", "run:\n  activations: f16\n", "--config {cfg}" + R, 1,
       "run.activations (line 2:16): 'f16' is not one of f32, bf16"},
      // ---- data files ----
      {"missing_text_file", "", "--config configs/tiny.yaml data.source=text data.path={dir}/nope.txt model.text_vocab=256" + R + small, 1,
       "cannot read the text file"},
      {"text_file_too_small", "", "--config configs/tiny.yaml data.source=text data.path={dir}/tiny.txt model.text_vocab=256" + R + small, 1,
       "too few for windows", [](const std::string& d) { write(d + "/tiny.txt", "hello"); }},
      {"text_source_without_path", "", "--config configs/tiny.yaml data.source=text model.text_vocab=256" + R + small, 1,
       "data.path: the text source needs a file path"},
      {"missing_token_file", "", "--config configs/tiny.yaml data.source=tokens data.path={dir}/nope.tok" + R + small, 1,
       "cannot read the token file"},
      {"token_file_bad_magic", "", "--config configs/tiny.yaml data.source=tokens data.path={dir}/bad.tok" + R + small, 1,
       "does not start with the magic 'TTTTOKNS'",
       [](const std::string& d) { write(d + "/bad.tok", std::string(64, 'x')); }},
      {"token_file_truncated", "", "--config configs/tiny.yaml data.source=tokens data.path={dir}/cut.tok" + R + small, 1,
       "(truncated or corrupt)", [](const std::string& d) {
         token_file(d + "/full.tok", 1, 1000, 20);
         std::string b = read_file(d + "/full.tok");
         write(d + "/cut.tok", b.substr(0, b.size() - 3));
       }},
      {"token_stream_count_mismatch", "", "--config configs/tiny.yaml data.source=tokens data.path={dir}/two.tok" + R + small, 1,
       "has 2 streams but the model has 1 + model.audio_streams = 1",
       [](const std::string& d) { token_file(d + "/two.tok", 2, 1000, 20); }},
      {"token_out_of_vocab", "", "--config configs/tiny.yaml data.source=tokens data.path={dir}/big.tok" + R + small, 1,
       "is outside the vocab 32", [](const std::string& d) { token_file(d + "/big.tok", 1, 1000, 40); }},
      // ---- checkpoints ----
      {"resume_not_a_run", "", "--resume {dir}/empty", 1, "is not a run directory (no config.yaml in it)",
       [](const std::string& d) { fs::create_directories(d + "/empty"); }},
      {"resume_without_checkpoint", "", "--resume {dir}/fresh", 1, "has no complete checkpoint to resume from",
       [](const std::string& d) { write(d + "/fresh/config.yaml", read_file(source_dir() + "/configs/tiny.yaml")); }},
      {"resume_optimizer_swapped", "", "--resume {dir}/swapped", 1, "AdamW::load_state_dict", [](const std::string& d) {
         RunResult r = run_train("--config configs/tiny.yaml run.max_steps=3 run.ckpt_freq=2 run.run_dir=" + d + "/swapped" + kSmallRun,
                                 TempDir("catalogue_setup"));
         ASSERT_EQ(r.code, 0) << r.output;
         const std::string c = d + "/swapped/checkpoints/step_00000003/";
         write(c + "optimizer.safetensors", read_file(c + "model.safetensors"));
       }},
      {"resume_model_shape_changed", "", "--resume {dir}/other model.width=64", 1, "shape mismatches", [](const std::string& d) {
         RunResult r = run_train("--config configs/tiny.yaml run.max_steps=3 run.run_dir=" + d + "/other" + kSmallRun,
                                 TempDir("catalogue_setup"));
         ASSERT_EQ(r.code, 0) << r.output;
       }},
      // ---- command lines ----
      {"no_arguments", "", "", 2, "give --config CONFIG.yaml or --resume RUN_DIR"},
      {"unknown_flag", "", "--config configs/tiny.yaml --fast", 2, "unknown argument '--fast'"},
      {"flag_without_value", "", "--config", 2, "--config needs a value"},
      {"override_without_key", "", "--config configs/tiny.yaml =5" + R, 1, "expected key.path=value"},
      {"override_into_a_value", "", "--config configs/tiny.yaml run.max_steps.x=3" + R, 1, "'run.max_steps' is not a section"},
      {"missing_config_file", "", "--config {dir}/nope.yaml", 1, "cannot read '"},
      {"run_dir_exists", "", "--config configs/tiny.yaml run.overwrite_run_dir=false run.run_dir={dir}/taken", 1,
       "already exists and is not empty", [](const std::string& d) { write(d + "/taken/notes.txt", "mine"); }},
  };
}

TEST(BadInputCatalogue, EveryEntryFailsCleanly) {
  auto cases = catalogue();
  ASSERT_GE(cases.size(), 30u);
  for (const BadInput& bc : cases) {
    if (bc.name == "bad_device" && cuda_available()) continue;
    TempDir dir("catalogue_" + bc.name);
    const std::string d = dir.path.string();
    if (bc.setup) bc.setup(d);
    std::string args = replace_all(bc.args, "{dir}", d);
    if (!bc.config.empty()) {
      write(d + "/case.yaml", bc.config);
      args = replace_all(args, "{cfg}", d + "/case.yaml");
    }
    const auto before = listing(d);
    RunResult r = run_train(args, dir);
    EXPECT_EQ(r.signal, 0) << bc.name << " crashed with signal " << r.signal << "\n" << r.output;
    EXPECT_EQ(r.code, bc.code) << bc.name << "\n" << r.output;
    EXPECT_NE(r.output.find(bc.fragment), std::string::npos) << bc.name << ": expected '" << bc.fragment << "' in\n" << r.output;
    auto after = listing(d);
    after.erase(d + "/log.txt:" + std::to_string(fs::file_size(d + "/log.txt")));
    EXPECT_EQ(after, before) << bc.name << " left files behind or changed them";
  }
}

}  // namespace
}  // namespace ttt::testing
