// ttt-generate: sample from a trained run (train/generate.h, docs/inference.md).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/device.h"
#include "core/files.h"
#include "core/profile.h"
#include "nn/precision.h"
#include "train/cli.h"
#include "train/generate.h"
#include "train/text_tokenizer.h"

namespace {

const char* kUsage =
    "usage: ttt-generate RUN_DIR [options]            sample from the run's newest checkpoint\n"
    "       ttt-generate --config FILE.yaml [--weights FILE|FOLDER] [options]\n"
    "                                                  a model no run made: weights under Moshi's or ttt.cpp's names, or\n"
    "                                                  a ttt-export folder (loaded as model.init_from); none: random\n"
    "                                                  weights, for speed measurements\n"
    "       ttt-generate RUN_DIR --recall N            answer the recall task's queries of N validation batches\n"
    "  key.path=value           with --config: override a config value, as ttt-train (e.g. model.context=1000)\n"
    "prompt (one of; default: one step of each stream's initial token):\n"
    "  --prompt TEXT            text, as bytes (models trained on data.source: text)\n"
    "  --prompt-file FILE       the same from a file\n"
    "  --prompt-tokens FILE     a token file (docs/training.md), every stream; delayed by data.delays as in training\n"
    "  --tokenizer FILE.model   a SentencePiece model for the text stream (Moshi's tokenizer_spm_32k_3.model): --prompt\n"
    "                           and --prompt-file are encoded with it (one text token a step after the initial step,\n"
    "                           the other streams carry no token), and the generated text is shown with it\n"
    "sampling (as Moshi's LMGen; defaults: text 0.7 / top-k 25, audio 0.8 / top-k 250):\n"
    "  --greedy  --temperature T  --top-k K  --top-p P          every stream\n"
    "  --text-temperature T  --text-top-k K  --text-top-p P     the text stream only (after the above)\n"
    "  --steps N (64)  --seed S (0)  --batch B (1: the same prompt B times)  --device auto|cpu|cuda[:N]\n"
    "  --dtype bf16             weights outside the TTT branches in bf16, bf16 activations (default f32)\n"
    "  --eager                  on a GPU, launch every kernel of every step from the host (by default the steps\n"
    "                           after the first replay a CUDA graph: the same tokens, faster)\n"
    "output:\n"
    "  --stream                 print the text stream as it is generated\n"
    "  --out FILE.tok           the first sequence with the delays undone, from its first step without an initial\n"
    "                           token, as a token file (new or a regular file)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace ttt;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (const int code = cli::help_or_version(args, "ttt-generate", kUsage); code >= 0) return code;
  return cli::guarded_main("ttt-generate", [&] {
    const cli::Args parsed =
        cli::parse_args(args,
                        {"--prompt", "--prompt-file", "--prompt-tokens", "--temperature", "--top-k", "--top-p",
                         "--text-temperature", "--text-top-k", "--text-top-p", "--steps", "--seed", "--batch", "--device",
                         "--out", "--recall", "--config", "--weights", "--dtype", "--tokenizer"},
                        {"--greedy", "--stream", "--eager"}, "ttt-generate");
    // key.path=value words override the --config file's values (as ttt-train's); the rest is a run dir
    std::vector<std::string> positional, overrides;
    for (const std::string& word : parsed.positional)
      (word.find('=') != std::string::npos ? overrides : positional).push_back(word);
    const std::map<std::string, std::string>& value = parsed.values;
    const bool greedy = parsed.has("--greedy"), stream = parsed.has("--stream");
    const bool from_config = value.count("--config") || value.count("--weights");
    TTT_CHECK(overrides.empty() || value.count("--config"), "ttt-generate", "'", overrides.empty() ? "" : overrides[0],
              "': key=value overrides apply to a --config file (a run dir's model is the one its checkpoint holds)");
    if (from_config ? !(positional.empty() && value.count("--config")) : positional.size() != 1) {
      std::cerr << kUsage;
      return 2;
    }
    auto number = [&](const char* flag, double fallback, double lo, double hi) {
      if (!value.count(flag)) return fallback;
      const std::string& text = value.at(flag);
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      TTT_CHECK(used == text.size() && v >= lo && v <= hi, "ttt-generate", flag, " '", text, "' is not a number in [", lo, ", ",
                hi, "]");
      return v;
    };
    auto integer = [&](const char* flag, int64_t fallback, int64_t lo, int64_t hi) {
      return value.count(flag) ? cli::parse_int(flag, value.at(flag), lo, hi) : fallback;
    };
    const std::string device_name = value.count("--device") ? value.at("--device") : "auto";
    const Device device =
        device_name == "auto" ? (cuda_available() ? Device::cuda(0) : Device::cpu()) : Device::parse(device_name);
    const std::string dtype = value.count("--dtype") ? value.at("--dtype") : "f32";
    TTT_CHECK(dtype == "f32" || dtype == "bf16", "ttt-generate", "--dtype is f32 or bf16, got '", dtype, "'");
    // weights from a file are loaded on the host and, for bf16, converted there, so the GPU never
    // holds them in f32; random weights are made where they run (fast) and converted there
    const bool random_weights = from_config && !value.count("--weights");
    const Device load_on = random_weights ? device : Device::cpu();
    std::string report;
    RunModel run = from_config ? load_config_model(value.at("--config"), overrides,
                                                   value.count("--weights") ? value.at("--weights") : "", load_on, report)
                               : load_run_model(positional[0], load_on);
    if (!report.empty()) std::cerr << report;
    if (dtype == "bf16") weights_in_bf16_except_ttt(*run.model);
    run.model->to(device);
    nn::ActivationScope activations(dtype == "bf16" ? DType::bf16 : DType::f32);
    const ModelConfig& c = run.config.model;
    std::cerr << "ttt-generate: " << run.checkpoint << " (step " << run.step << "), " << run.model->num_parameters()
              << " parameters on " << device.str() << "\n";

    if (value.count("--recall")) {
      const RecallAnswers a = answer_recall_queries(*run.model, run.config, integer("--recall", 1, 1, 1 << 20), device);
      std::printf(
          "recall: %lld of %lld queries answered correctly by greedy generation (accuracy %.4f); the training's "
          "evaluation on the same batches: %.4f\n",
          static_cast<long long>(a.correct), static_cast<long long>(a.total), a.accuracy(), a.eval_accuracy);
      return 0;
    }

    GenerateOptions o;
    for (SamplingOptions* s : {&o.text, &o.audio}) {
      s->greedy = greedy;
      s->temperature = number("--temperature", s->temperature, 1e-6, 1e6);
      s->top_k = integer("--top-k", s->top_k, 0, int64_t{1} << 40);
      s->top_p = number("--top-p", s->top_p, 1e-9, 1.0);
    }
    o.text.temperature = number("--text-temperature", o.text.temperature, 1e-6, 1e6);
    o.text.top_k = integer("--text-top-k", o.text.top_k, 0, int64_t{1} << 40);
    o.text.top_p = number("--text-top-p", o.text.top_p, 1e-9, 1.0);
    o.steps = integer("--steps", o.steps, 1, int64_t{1} << 24);
    o.cuda_graph = !parsed.has("--eager");
    o.seed = static_cast<uint64_t>(integer("--seed", 0, 0, int64_t{1} << 62));
    const int64_t B = integer("--batch", 1, 1, 4096), N = c.num_streams();

    // the prompt as the model reads it, [1, P, N]
    std::vector<double> prompt;
    int64_t P = 0;
    const bool bytes_model = run.config.data.source == DataSourceKind::text;
    std::unique_ptr<TextTokenizer> tokenizer;
    if (value.count("--tokenizer")) {
      TTT_CHECK(!bytes_model, "--tokenizer",
                "this run was trained on bytes (data.source: text): its prompts and output are "
                "bytes already; a tokenizer is for models trained on its ids");
      tokenizer = std::make_unique<TextTokenizer>(value.at("--tokenizer"));
      TTT_CHECK(tokenizer->num_pieces() <= c.vocab(0), "--tokenizer", value.at("--tokenizer"), " has ", tokenizer->num_pieces(),
                " pieces but the text stream's vocab is ", c.vocab(0), ": not the tokenizer this model was trained with");
    }
    // Moshi's text padding ids are not shown (a model without the depformer has no such ids)
    const std::vector<int64_t> hidden_text =
        c.audio_head == AudioHead::depformer ? c.moshi_loss.text_padding_ids : std::vector<int64_t>{};
    const bool text_prompt = value.count("--prompt") || value.count("--prompt-file");
    const std::string prompt_text = !text_prompt ? ""
                                    : value.count("--prompt")
                                        ? value.at("--prompt")
                                        : read_regular_file(value.at("--prompt-file"), "--prompt-file", 64u << 20);
    if (text_prompt && tokenizer) {
      const std::vector<int64_t> ids = tokenizer->encode(prompt_text);
      TTT_CHECK(!ids.empty(), "ttt-generate", "the prompt is empty");
      // the initial step, then one text token a step; the other streams say nothing
      for (int64_t s = 0; s < N; ++s) prompt.push_back(static_cast<double>(c.pad_id(s)));
      for (int64_t id : ids)
        for (int64_t s = 0; s < N; ++s) prompt.push_back(s == 0 ? static_cast<double>(id) : static_cast<double>(kNoToken));
      P = 1 + static_cast<int64_t>(ids.size());
    } else if (text_prompt) {
      TTT_CHECK(bytes_model && N == 1, "ttt-generate",
                "--prompt and --prompt-file give bytes: the run must be trained on "
                "data.source: text (this one: ",
                enum_name(run.config.data.source), ", ", N, " streams); use --prompt-tokens, or --tokenizer");
      TTT_CHECK(!prompt_text.empty(), "ttt-generate", "the prompt is empty");
      for (unsigned char ch : prompt_text) prompt.push_back(ch);
      P = static_cast<int64_t>(prompt.size());
    } else if (value.count("--prompt-tokens")) {
      const TokenFile f = read_token_file(value.at("--prompt-tokens"));
      TTT_CHECK(f.num_streams == N, "ttt-generate", value.at("--prompt-tokens"), " has ", f.num_streams,
                " streams; the model reads ", N);
      P = f.num_steps();
      TTT_CHECK(P > 0, "ttt-generate", value.at("--prompt-tokens"), " has no steps");
      const std::vector<int64_t>& delays = run.config.data.delays;
      for (int64_t t = 0; t < P; ++t)  // delayed as the training data was: the initial token before a stream starts
        for (int64_t s = 0; s < N; ++s) {
          const int64_t from = t - (delays.empty() ? 0 : delays[s]);
          const uint32_t code = from < 0 ? 0 : f.tokens[from * N + s];
          prompt.push_back(from < 0               ? static_cast<double>(c.pad_id(s))
                           : code == kNoTokenCode ? static_cast<double>(kNoToken)
                                                  : static_cast<double>(code));
        }
    } else {
      for (int64_t s = 0; s < N; ++s) prompt.push_back(static_cast<double>(c.pad_id(s)));  // the initial tokens
      P = 1;
    }
    std::vector<double> batch;
    for (int64_t b = 0; b < B; ++b) batch.insert(batch.end(), prompt.begin(), prompt.end());
    if (value.count("--out")) require_replaceable_output(value.at("--out"), "ttt-generate");  // before the work

    auto print_text = [&](const std::vector<int64_t>& ids) {
      for (int64_t id : ids) {
        if (tokenizer)
          std::fputs(tokenizer->show(id, hidden_text).c_str(), stdout);
        else if (bytes_model)
          std::putchar(static_cast<int>(id));
        else
          std::printf("%lld ", static_cast<long long>(id));
      }
      std::fflush(stdout);
    };
    // speed: the generated steps after three of warm-up (the first fill the allocator's cache)
    using Clock = std::chrono::steady_clock;
    Clock::time_point timed_from;
    int64_t generated = 0;
    const Tensor seq =
        generate(*run.model, from_vector(batch, {B, P, N}, DType::i64), o, device, [&](int64_t, const Tensor& step) {
          if (++generated == 3) {
            timed_from = Clock::now();
            profile::reset();  // TTT_PROFILE=1: where the timed steps' time goes (core/profile.h)
          }
          if (stream) print_text({step.to_vector<int64_t>()[0]});  // the first sequence's text token
        });
    if (stream) std::printf("\n");
    if (generated > 3) {
      const double secs = std::chrono::duration<double>(Clock::now() - timed_from).count();
      std::fprintf(stderr, "ttt-generate: %lld steps at batch %lld in %.3f s after 3 of warm-up: %.2f steps/s (%.2f ms a step)",
                   static_cast<long long>(generated - 3), static_cast<long long>(B), secs,
                   static_cast<double>(generated - 3) / secs, 1000 * secs / static_cast<double>(generated - 3));
      if (device.is_cuda())
        std::fprintf(stderr, ", GPU memory peak %.2f GiB", static_cast<double>(cuda::allocator_stats().peak_bytes) / (1 << 30));
      std::fprintf(stderr, "\n");
      if (profile::enabled()) profile::report(std::cerr, generated - 3, timed_from);
    }
    const std::vector<int64_t> all = seq.to_vector<int64_t>();
    const int64_t L = seq.size(1);
    for (int64_t b = 0; b < B && !stream; ++b) {  // every sequence's text stream, the prompt included
      std::vector<int64_t> text;
      for (int64_t t = 0; t < L; ++t) text.push_back(all[static_cast<size_t>((b * L + t) * N)]);
      print_text(text);
      std::printf("\n");
    }
    if (value.count("--out")) {
      const Tensor out = undelay(slice(seq, 0, 0, 1), run.config.data.delays);
      TokenFile f;
      f.num_streams = N;
      const std::vector<int64_t> ids = out.to_vector<int64_t>();
      // from the first step without an initial token (the prompt's start, before a stream's first step)
      int64_t first = 0;
      auto has_initial = [&](int64_t t) {
        for (int64_t s = 0; s < N; ++s)
          if (ids[static_cast<size_t>(t * N + s)] == c.pad_id(s)) return true;
        return false;
      };
      while (first < out.size(1) && has_initial(first)) ++first;
      for (size_t i = static_cast<size_t>(first * N); i < ids.size(); ++i)
        f.tokens.push_back(ids[i] < 0 ? kNoTokenCode : static_cast<uint32_t>(ids[i]));
      write_token_file(value.at("--out"), f, 4);
      std::cerr << "wrote " << value.at("--out") << ": " << f.num_steps() << " steps x " << N << " streams (delays undone)\n";
    }
    return 0;
  });
}
