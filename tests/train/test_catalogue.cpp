// The catalogue of bad inputs: configs, data files, run directories, checkpoints and command
// lines of all three tools, one named test each (BadInputCatalogue.Refuses/<name>), with its
// expected exit code and a fragment of its message. None may crash or hang (each runs under a
// time limit), and none may leave output behind: a refused run creates no run directory, a
// refused resume changes no file, and no file the user had is changed (contents compared).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <set>

#include "core/allocator.h"
#include "nn/safetensors.h"
#include "tests/train/train_runner.h"
#include "train/data.h"

namespace ttt::testing {
namespace {

namespace fs = std::filesystem;

enum class Tool { train, probe, tokens };

struct BadInput {
  std::string name;
  std::string config;  // written to case.yaml when not empty; "{cfg}" in args stands for it
  std::string args;    // "{dir}" stands for the case's scratch directory
  int code;
  std::string fragment;
  std::function<void(const std::string& dir)> setup = nullptr;
  Tool tool = Tool::train;
  std::string prefix = "";  // environment for the command, e.g. HOME=...
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// Every entry under dir with its type and, for files, a hash of the contents: what a refused
// command must leave unchanged.
std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    std::string entry = e.path().string();
    const fs::file_status st = fs::symlink_status(e.path());
    // (appends, not entry += "a" + b: GCC 12 warns falsely about overlapping copies there)
    if (fs::is_regular_file(st))
      entry.append(":").append(std::to_string(std::hash<std::string>()(read_file(e.path().string()))));
    else if (fs::is_directory(st))
      entry.append("/");
    else
      entry.append(" (type ").append(std::to_string(static_cast<int>(st.type()))).append(")");
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
const std::string kTiny = "--config configs/tiny.yaml";

// A finished 3-step run in dir/name (checkpoint step 3); extra overrides are appended.
void make_run(const std::string& d, const std::string& name, const std::string& extra = "") {
  RunResult r =
      run_train(kTiny + " run.max_steps=3 run.run_dir=" + d + "/" + name + kSmallRun + extra, TempDir("catalogue_setup"));
  ASSERT_EQ(r.code, 0) << r.output;
}
std::string ckpt(const std::string& d, const std::string& name) { return d + "/" + name + "/checkpoints/step_00000003/"; }

// model.safetensors of a run rewritten by `change` (and saved with fresh checksums).
void rewrite_model(const std::string& d, const std::string& name,
                   const std::function<void(std::vector<nn::NamedTensor>&)>& change,
                   const std::map<std::string, std::string>& store_as = {}) {
  const std::string file = ckpt(d, name) + "model.safetensors";
  nn::SafetensorsData data = nn::load_safetensors(file);
  change(data.tensors);
  nn::save_safetensors(file, data.tensors, data.metadata, store_as, /*with_checksums=*/true);
}

std::vector<BadInput> catalogue() {
  const std::string small = kSmallRun;
  const std::string resume6 = " run.max_steps=6";  // resumes past the finished step 3
  return {
      // ---- configs ----
      {"unknown_key", "model:\n  widht: 64\n", "--config {cfg}" + R, 1,
       "model.widht (line 2:3): unknown key 'widht' (did you mean 'width'?)"},
      {"unknown_section_suggests", "modle:\n  width: 3\n", "--config {cfg}" + R, 1, "did you mean 'model'?"},
      {"unknown_choice_suggests", "schedule:\n  kind: cosin\n", "--config {cfg}" + R, 1, "(did you mean 'cosine'?)"},
      {"wrong_type", "run:\n  batch_size: [1, 2]\n", "--config {cfg}" + R, 1,
       "run.batch_size (line 2:15): expected an integer, got a list"},
      {"out_of_range", "run:\n  max_steps: 0\n", "--config {cfg}" + R, 1, "run.max_steps (line 2:14): 0 is out of range"},
      {"max_steps_beyond_names", "", kTiny + " run.max_steps=100000000" + R, 1, "100000000 is out of range [1, 99999999]"},
      {"empty_file", "\n", "--config {cfg}" + R, 1, "the file is empty"},
      {"truncated_yaml", "trainable:\n  rules:\n    - {name: \"**\", train: tr", "--config {cfg}" + R, 1,
       "not valid YAML at line 3"},
      {"top_level_list", "- model\n- run\n", "--config {cfg}" + R, 1, "the top level must be a map of sections"},
      {"section_not_a_map", "run: 5\n", "--config {cfg}" + R, 1, "run (line 1:6): expected a map of settings"},
      {"unknown_section", "optimizer:\n  lr: 1\n", "--config {cfg}" + R, 1, "unknown section 'optimizer'"},
      {"duplicate_key", "model:\n  width: 32\n  width: 64\n", "--config {cfg}" + R, 1,
       "model.width: the key appears twice, on line 2 and line 3"},
      {"duplicate_section", "run:\n  seed: 1\nmodel:\n  width: 32\nrun:\n  seed: 2\n", "--config {cfg}" + R, 1,
       "run: the key appears twice, on line 1 and line 5"},
      {"min_lr_above_lr", "", kTiny + " optim.lr=1e-4 schedule.min_lr=1e-3" + R, 1, "so the learning rate would climb"},
      {"stream_weights_all_zero", "", kTiny + " model.stream_weights=[0]" + R, 1,
       "all weights are zero, so the loss would be 0/0"},
      {"stream_weight_negative", "", kTiny + " model.stream_weights=[-1]" + R, 1, "every weight must be >= 0"},
      {"nothing_trainable", "", kTiny + " \"trainable.rules=[{name: '**', train: false}]\"" + R + small, 1,
       "the rules leave no parameter trainable"},
      {"stop_after_max_steps", "", kTiny + " run.max_steps=10 run.stop_at_step=20" + R, 1, "so it would never stop the run"},
      {"flow_override_replaces_section", "", kTiny + " \"run={max_steps: 2}\"" + R, 1, "would replace the whole section 'run'"},
      {"overwrite_run_dir_renamed", "", kTiny + " run.overwrite_run_dir=true" + R, 1, "replaced by run.existing_run_dir"},
      {"causal_with_full_ttt", "model:\n  hybrid_layers: [0]\nttt:\n  minibatch_mode: full\n", "--config {cfg}" + R, 1,
       "a causal stack needs ttt.minibatch_mode: causal"},
      {"causal_with_bidirectional", "model:\n  hybrid_layers: [0]\n  bidirectional: true\n", "--config {cfg}" + R, 1,
       "a causal stack cannot have a reversed-sequence TTT branch"},
      {"heads_do_not_divide", "model:\n  width: 30\n  num_heads: 4\n", "--config {cfg}" + R, 1, "width 30 is not divisible by 4"},
      {"hybrid_index_out_of_range", "model:\n  num_layers: 2\n  hybrid_layers: [5]\n", "--config {cfg}" + R, 1,
       "hybrid_layers: index 5 is outside the 2 layers"},
      {"checkpoint_ttt_layers_without_a_branch", "model:\n  num_layers: 2\n  hybrid_layers: [1]\n  checkpoint_ttt_layers: [0]\n",
       "--config {cfg}" + R, 1, "model.checkpoint_ttt_layers: layer 0 has no TTT branch (not in hybrid_layers)"},
      {"mlp_dims_wrong_ends", "model:\n  hybrid_layers: [0]\nttt:\n  variant: multilayer\n  mlp_dims: [8, 32, 16]\n",
       "--config {cfg}" + R, 1, "mlp_dims must start and end at the head dim 16"},
      {"unknown_variant", "ttt:\n  variant: conv\n", "--config {cfg}" + R, 1,
       "ttt.variant (line 2:12): 'conv' is not one of linear, mlp, multilayer"},
      {"unknown_schedule", "schedule:\n  kind: exponential\n", "--config {cfg}" + R, 1,
       "'exponential' is not one of constant, cosine, linear, one_cycle"},
      {"warmup_longer_than_run", "schedule:\n  kind: cosine\n  warmup_steps: 50\nrun:\n  max_steps: 10\n", "--config {cfg}" + R,
       1, "warmup_steps (50) must be below total_steps (10)"},
      {"policy_rule_matches_nothing", "", kTiny + " \"trainable.rules=[{name: '**.w1', train: true}]\"" + R + small, 1,
       "rule 0 (train name '**.w1') matches no parameter"},
      {"policy_count_mismatch", "", kTiny + " trainable.expected_trainable=7" + R + small, 1, "the config expects 7"},
      {"policy_count_mismatch_prints_table", "", kTiny + " trainable.expected_trainable=7" + R + small, 1, "module (kind)"},
      {"group_matches_nothing", "", kTiny + " \"optim.groups=[{kind: TTTLinear, lr_scale: 2}]\"" + R + small, 1,
       "parameter group rule 0 (kind 'TTTLinear' lr_scale=2) matches no trainable parameter"},
      {"rule_without_selector", "trainable:\n  rules:\n    - {train: false}\n", "--config {cfg}" + R, 1,
       "a rule needs a name glob, a module kind, or both"},
      {"rule_without_train", "trainable:\n  rules:\n    - {name: '**'}\n", "--config {cfg}" + R, 1,
       "every rule needs train: true or false"},
      {"recall_vocab_too_small", "model:\n  text_vocab: 10\n", "--config {cfg}" + R, 1,
       "the recall task needs num_keys + num_values = 64 tokens"},
      {"recall_sequence_too_short", "run:\n  seq_len: 6\nmodel:\n  text_vocab: 64\n", "--config {cfg}" + R, 1,
       "the recall task needs at least 2 * num_pairs + 2 = 18 tokens"},
      {"bad_device", "run:\n  device: gpu0\n", "--config {cfg}" + R, 1,
       "run.device (line 2:11): 'gpu0' is not auto, cpu, cuda or cuda:N"},
      {"bad_matmul_precision", "run:\n  matmul_precision: fp8\n", "--config {cfg}" + R, 1,
       "run.matmul_precision (line 2:21): 'fp8' is not one of f32, tf32, bf16"},
      {"bad_scan_precision", "ttt:\n  scan_precision: fp8\n", "--config {cfg}" + R, 1,
       "ttt.scan_precision (line 2:19): 'fp8' is not one of f32, tf32, bf16"},
      {"scan_precision_without_the_fused_scan", "ttt:\n  scan_precision: tf32\n  use_kernel: false\n", "--config {cfg}" + R, 1,
       "scan_precision tf32 is the fused scan's (use_kernel: true); the composed scan's products follow run.matmul_precision"},
      {"bad_activations", "run:\n  activations: f16\n", "--config {cfg}" + R, 1,
       "run.activations (line 2:16): 'f16' is not one of f32, bf16"},
      {"config_is_a_fifo", "", "--config {dir}/fifo.yaml" + R, 1, "is a FIFO (named pipe), not a regular file",
       [](const std::string& d) { ASSERT_EQ(mkfifo((d + "/fifo.yaml").c_str(), 0644), 0); }},
      {"config_is_a_directory", "", "--config {dir}/folder" + R, 1, "is a directory, not a regular file",
       [](const std::string& d) { fs::create_directories(d + "/folder"); }},
      // ---- sizes: refused before anything is allocated or created ----
      {"needs_more_memory_than_the_host", "", kTiny + " model.width=1048576 model.num_heads=4 model.ffn_hidden=1048576" + R, 1,
       "this run needs about"},
      {"dry_run_size_overflow", "", kTiny + " --dry-run model.width=1099511627776 model.ffn_hidden=1099511627776", 1,
       "more than 2^63 elements"},
      // ---- data files ----
      {"missing_text_file", "", kTiny + " data.source=text data.path={dir}/nope.txt model.text_vocab=256" + R + small, 1,
       "cannot read the text file"},
      {"text_file_too_small", "", kTiny + " data.source=text data.path={dir}/tiny.txt model.text_vocab=256" + R + small, 1,
       "too few for windows", [](const std::string& d) { write(d + "/tiny.txt", "hello"); }},
      {"text_source_without_path", "", kTiny + " data.source=text model.text_vocab=256" + R + small, 1,
       "data.path: the text source needs a file path"},
      {"text_file_is_a_fifo", "", kTiny + " data.source=text data.path={dir}/fifo model.text_vocab=256" + R + small, 1,
       "is a FIFO", [](const std::string& d) { ASSERT_EQ(mkfifo((d + "/fifo").c_str(), 0644), 0); }},
      {"text_file_is_a_device", "", kTiny + " data.source=text data.path=/dev/zero model.text_vocab=256" + R + small, 1,
       "is a device"},
      {"missing_token_file", "", kTiny + " data.source=tokens data.path={dir}/nope.tok" + R + small, 1,
       "cannot read the token file"},
      {"token_file_bad_magic", "", kTiny + " data.source=tokens data.path={dir}/bad.tok" + R + small, 1,
       "does not start with the magic 'TTTTOKNS'", [](const std::string& d) { write(d + "/bad.tok", std::string(64, 'x')); }},
      {"token_file_truncated", "", kTiny + " data.source=tokens data.path={dir}/cut.tok" + R + small, 1, "(truncated or corrupt)",
       [](const std::string& d) {
         token_file(d + "/full.tok", 1, 1000, 20);
         std::string b = read_file(d + "/full.tok");
         write(d + "/cut.tok", b.substr(0, b.size() - 3));
       }},
      {"token_stream_count_mismatch", "", kTiny + " data.source=tokens data.path={dir}/two.tok" + R + small, 1,
       "has 2 streams but the model has 1 + model.audio_streams = 1",
       [](const std::string& d) { token_file(d + "/two.tok", 2, 1000, 20); }},
      {"token_out_of_vocab", "", kTiny + " data.source=tokens data.path={dir}/big.tok" + R + small, 1, "is outside the vocab 32",
       [](const std::string& d) { token_file(d + "/big.tok", 1, 1000, 40); }},
      // ---- run directories: nothing the user had is removed or changed ----
      {"run_dir_is_the_working_directory", "", kTiny + " run.run_dir=." + small, 1,
       "is the working directory or a folder above it"},
      {"run_dir_is_above_the_working_directory", "", kTiny + " run.run_dir=.." + small, 1,
       "is the working directory or a folder above it"},
      {"run_dir_is_the_root", "", kTiny + " run.run_dir=/" + small, 1, "is the root directory"},
      {"run_dir_is_home", "", kTiny + " run.run_dir={dir}/home" + small, 1, "is the home directory",
       [](const std::string& d) { write(d + "/home/notes.txt", "mine"); }, Tool::train, "HOME={dir}/home"},
      {"run_dir_is_the_source_tree", "", kTiny + " run.run_dir=" + source_dir() + small, 1, "run.run_dir"},
      {"run_dir_is_a_file", "", kTiny + " run.run_dir={dir}/notes.txt" + small, 1, "exists and is not a folder",
       [](const std::string& d) { write(d + "/notes.txt", "mine"); }},
      {"run_dir_is_a_symlink", "", kTiny + " run.run_dir={dir}/link" + small, 1, "is a symbolic link",
       [](const std::string& d) {
         fs::create_directories(d + "/target");
         fs::create_directory_symlink(d + "/target", d + "/link");
       }},
      {"run_dir_holds_user_files", "", kTiny + " run.run_dir={dir}/mine" + small, 1, "holds files that ttt-train did not make",
       [](const std::string& d) { write(d + "/mine/notes.txt", "mine"); }},
      {"run_dir_holds_user_files_even_with_delete", "", kTiny + " run.existing_run_dir=delete run.run_dir={dir}/mine" + small, 1,
       "holds files that ttt-train did not make", [](const std::string& d) { write(d + "/mine/notes.txt", "mine"); }},
      {"run_dir_holds_an_earlier_run", "", kTiny + " run.run_dir={dir}/taken" + small, 1,
       "holds an earlier run. Continue it with --resume", [](const std::string& d) { make_run(d, "taken"); }},
      {"delete_refuses_a_run_with_user_files", "", kTiny + " run.existing_run_dir=delete run.run_dir={dir}/taken" + small, 1,
       "also holds 'notes.txt', which ttt-train did not write",
       [](const std::string& d) {
         make_run(d, "taken");
         write(d + "/taken/notes.txt", "mine");
       }},
      // ---- checkpoints and resumes: refused, nothing changed ----
      {"resume_not_a_run", "", "--resume {dir}/empty", 1, "is not a run directory (no config.yaml in it)",
       [](const std::string& d) { fs::create_directories(d + "/empty"); }},
      {"resume_a_folder_not_made_by_ttt_train", "", "--resume {dir}/fresh", 1, "is not a run directory made by ttt-train",
       [](const std::string& d) { write(d + "/fresh/config.yaml", read_file(source_dir() + "/configs/tiny.yaml")); }},
      {"resume_without_checkpoint", "", "--resume {dir}/fresh", 1, "has no complete checkpoint to resume from",
       [](const std::string& d) {
         write(d + "/fresh/config.yaml", read_file(source_dir() + "/configs/tiny.yaml"));
         write(d + "/fresh/ttt-run.json", "{}");
       }},
      {"resume_optimizer_swapped", "", "--resume {dir}/run" + resume6, 1, "carry no checksum",
       [](const std::string& d) {
         make_run(d, "run");
         const nn::SafetensorsData m = nn::load_safetensors(ckpt(d, "run") + "model.safetensors");
         nn::save_safetensors(ckpt(d, "run") + "optimizer.safetensors", m.tensors);  // no checksums: foreign
       }},
      {"resume_optimizer_swapped_with_checksums", "", "--resume {dir}/run" + resume6, 1, "AdamW::load_state_dict",
       [](const std::string& d) {
         make_run(d, "run");
         write(ckpt(d, "run") + "optimizer.safetensors", read_file(ckpt(d, "run") + "model.safetensors"));
       }},
      {"resume_bit_flip_in_tensor_data", "", "--resume {dir}/run" + resume6, 1, "fails its checksum",
       [](const std::string& d) {
         make_run(d, "run");
         std::string b = read_file(ckpt(d, "run") + "model.safetensors");
         b[b.size() - 1000] ^= 0x40;  // an exponent bit of a weight, inside the data section
         write(ckpt(d, "run") + "model.safetensors", b);
       }},
      {"resume_trailing_bytes", "", "--resume {dir}/run" + resume6, 1, "bytes after the last tensor's data",
       [](const std::string& d) {
         make_run(d, "run");
         write(ckpt(d, "run") + "model.safetensors", read_file(ckpt(d, "run") + "model.safetensors") + "12345678");
       }},
      {"resume_i64_where_f32_expected", "", "--resume {dir}/run" + resume6, 1, "is stored as I64 but the model holds it as F32",
       [](const std::string& d) {
         make_run(d, "run");
         rewrite_model(d, "run", [](std::vector<nn::NamedTensor>& ts) { ts[0].second = to_dtype(ts[0].second, DType::i64); });
       }},
      {"resume_f16_where_f32_expected", "", "--resume {dir}/run" + resume6, 1, "is stored as F16 but the model holds it as F32",
       [](const std::string& d) {
         make_run(d, "run");
         std::string name;
         rewrite_model(d, "run", [&](std::vector<nn::NamedTensor>& ts) { name = ts[0].first; }, {});
         rewrite_model(d, "run", [](std::vector<nn::NamedTensor>&) {}, {{name, "F16"}});
       }},
      {"resume_negative_step", "", "--resume {dir}/run" + resume6, 1, "step -3 is outside",
       [](const std::string& d) {
         make_run(d, "run");
         std::string j = read_file(ckpt(d, "run") + "trainer.json");
         j.replace(j.find("\"step\": 3"), 9, "\"step\": -3");
         write(ckpt(d, "run") + "trainer.json", j);
       }},
      {"resume_model_shape_changed", "", "--resume {dir}/run model.width=64" + resume6, 1,
       "model.width: checkpoint 32, now 64  (a parameter's shape", [](const std::string& d) { make_run(d, "run"); }},
      {"resume_seed_changed", "", "--resume {dir}/run run.seed=5" + resume6, 1, "run.seed: checkpoint 0, now 5",
       [](const std::string& d) { make_run(d, "run"); }},
      {"resume_batch_size_changed", "", "--resume {dir}/run run.batch_size=8" + resume6, 1, "run.batch_size: checkpoint 4, now 8",
       [](const std::string& d) { make_run(d, "run"); }},
      {"resume_with_another_config", "", kTiny + " --resume {dir}/run run.max_steps=30", 1, "run.seq_len: checkpoint 24, now 48",
       [](const std::string& d) { make_run(d, "run"); }},
      {"resume_data_file_changed", "", "--resume {dir}/run" + resume6, 1, "data (the file's crc32c_first_mib)",
       [](const std::string& d) {
         std::string text;
         for (int i = 0; i < 400; ++i) text += "the quick brown fox " + std::to_string(i) + "\n";
         write(d + "/book.txt", text);
         make_run(d, "run", " data.source=text data.path=" + d + "/book.txt model.text_vocab=256");
         text[10] = 'Q';  // same size, other bytes
         write(d + "/book.txt", text);
       }},
      {"resume_allow_config_change_does_not_cover_shapes", "",
       "--resume {dir}/run model.width=64 --allow-config-change model" + resume6, 1, "a parameter's shape",
       [](const std::string& d) { make_run(d, "run"); }},
      {"resume_finished_run", "", "--resume {dir}/run", 0, "is finished: its last checkpoint is step 3",
       [](const std::string& d) { make_run(d, "run"); }},
      // ---- command lines ----
      {"no_arguments", "", "", 2, "give --config CONFIG.yaml or --resume RUN_DIR"},
      {"unknown_flag", "", kTiny + " --fast", 2, "unknown argument '--fast'"},
      {"flag_without_value", "", "--config", 2, "--config needs a value"},
      {"flag_misspelled", "", kTiny + " --dryrun", 2, "unknown argument '--dryrun' (did you mean '--dry-run'?)"},
      {"flag_given_twice", "", kTiny + " --config configs/small_gpu.yaml", 2,
       "--config is given twice ('configs/tiny.yaml' and 'configs/small_gpu.yaml')"},
      {"depth_not_a_number", "", kTiny + " --dry-run --depth 3x", 1, "--depth: expected an integer, got '3x'"},
      {"override_without_key", "", kTiny + " =5" + R, 1, "expected key.path=value"},
      {"override_into_a_value", "", kTiny + " run.max_steps.x=3" + R, 1, "'run.max_steps' is not a section"},
      {"missing_config_file", "", "--config {dir}/nope.yaml", 1, "cannot read '"},
      {"probe_valid_length_not_a_number", "",
       "--config x.yaml --weights w.safetensors --input i.safetensors --output {dir}/o.safetensors --valid-length abc", 1,
       "--valid-length: expected an integer, got 'abc'", nullptr, Tool::probe},
      {"probe_config_is_a_fifo", "",
       "--config {dir}/fifo --weights w.safetensors --input i.safetensors --output {dir}/o.safetensors", 1, "is a FIFO",
       [](const std::string& d) { ASSERT_EQ(mkfifo((d + "/fifo").c_str(), 0644), 0); }, Tool::probe},
      {"tokens_from_a_device", "", "from-text /dev/zero {dir}/out.tok", 1, "is a device", nullptr, Tool::tokens},
      {"tokens_from_a_fifo", "", "from-text {dir}/fifo {dir}/out.tok", 1, "is a FIFO",
       [](const std::string& d) { ASSERT_EQ(mkfifo((d + "/fifo").c_str(), 0644), 0); }, Tool::tokens},
      {"tokens_from_a_directory", "", "from-text {dir} {dir}/out.tok", 1, "is a directory", nullptr, Tool::tokens},
      {"tokens_onto_a_fifo", "", "from-text {dir}/in.txt {dir}/fifo", 1, "exists and is a FIFO",
       [](const std::string& d) {
         write(d + "/in.txt", "hello");
         ASSERT_EQ(mkfifo((d + "/fifo").c_str(), 0644), 0);
       },
       Tool::tokens},
      {"tokens_onto_a_directory", "", "from-text {dir}/in.txt {dir}/folder", 1, "exists and is a directory",
       [](const std::string& d) {
         write(d + "/in.txt", "hello");
         fs::create_directories(d + "/folder");
       },
       Tool::tokens},
      {"tokens_onto_a_symlink", "", "from-text {dir}/in.txt {dir}/link", 1, "exists and is a symbolic link",
       [](const std::string& d) {
         write(d + "/in.txt", "hello");
         write(d + "/target", "mine");
         fs::create_symlink(d + "/target", d + "/link");
       },
       Tool::tokens},
      {"tokens_unknown_command", "", "convert a b", 2, "usage: ttt-tokens", nullptr, Tool::tokens},
  };
}

class Refuses : public ::testing::TestWithParam<BadInput> {};

TEST_P(Refuses, CleanlyAndChangesNothing) {
  const BadInput& bc = GetParam();
  if (bc.name == "bad_device" && cuda_available()) GTEST_SKIP() << "a GPU is visible";
  TempDir dir("catalogue_" + bc.name);
  const std::string d = dir.path.string();
  if (bc.setup) bc.setup(d);
  std::string args = replace_all(bc.args, "{dir}", d);
  if (!bc.config.empty()) {
    write(d + "/case.yaml", bc.config);
    args = replace_all(args, "{cfg}", d + "/case.yaml");
  }
  const auto before = listing(d);
  const auto source_before = listing(source_dir() + "/configs");
  const std::string exe = bc.tool == Tool::train ? train_exe() : bc.tool == Tool::probe ? probe_exe() : tokens_exe();
  // a hang (a FIFO read, an endless device) ends in SIGKILL after 120 s instead of stalling CI
  RunResult r = run_tool(exe, args, dir, replace_all(bc.prefix, "{dir}", d) + " timeout -s KILL 120");
  EXPECT_EQ(r.signal, 0) << bc.name << " crashed or hung (signal " << r.signal << ")\n" << r.output;
  EXPECT_EQ(r.code, bc.code) << bc.name << "\n" << r.output;
  EXPECT_NE(r.output.find(bc.fragment), std::string::npos) << bc.name << ": expected '" << bc.fragment << "' in\n" << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  auto after = listing(d);
  after.erase(d + "/log.txt:" + std::to_string(std::hash<std::string>()(read_file(d + "/log.txt"))));
  EXPECT_EQ(after, before) << bc.name << " left files behind or changed them";
  EXPECT_EQ(listing(source_dir() + "/configs"), source_before);
}

INSTANTIATE_TEST_SUITE_P(BadInputCatalogue, Refuses, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<BadInput>& entry) { return entry.param.name; });

TEST(BadInputCatalogue, HasEveryEntryOnce) {
  std::set<std::string> names;
  for (const BadInput& bc : catalogue()) EXPECT_TRUE(names.insert(bc.name).second) << "duplicate entry " << bc.name;
  EXPECT_GE(names.size(), 90u);
}

}  // namespace
}  // namespace ttt::testing
