#include "train/generate.h"

#include <algorithm>

#include "autograd/ops.h"
#include "core/compute.h"
#include "core/cuda_graph.h"
#include "core/error.h"
#include "core/kernel_args.h"
#include "core/profile.h"
#include "nn/precision.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "train/init_from.h"
#include "train/run_dir.h"

namespace ttt {

RunModel load_run_model(const std::string& run_dir, Device device) {
  const std::optional<std::string> latest = newest_checkpoint_of_run(run_dir, "run");
  RunModel r;
  r.checkpoint = *latest;
  const TrainerState state = read_trainer_state(*latest);
  r.step = state.step;
  r.config = parse_config(state.config_yaml, *latest + "/trainer.json");
  Generator gen(r.config.run.seed);
  r.model = std::make_unique<HybridLM>(r.config.model, gen, Device::cpu());
  load_model_weights(*latest, *r.model);
  r.model->to(device);
  return r;
}

RunModel load_config_model(const std::string& config_path, const std::vector<std::string>& overrides, const std::string& weights,
                           Device device, std::string& report) {
  RunModel r;
  r.config = load_config(config_path, overrides);
  r.checkpoint = weights.empty() ? "(random weights)" : weights;
  Generator gen(r.config.run.seed);
  if (weights.empty()) {  // random: built where it runs (a 7B model initialised on the GPU takes seconds)
    r.model = std::make_unique<HybridLM>(r.config.model, gen, device);
    report = "random weights (--config without --weights): for benchmarks, not for answers\n";
    return r;
  }
  r.model = std::make_unique<HybridLM>(r.config.model, gen, Device::cpu());
  InitConfig init;
  init.from = weights;
  report = init_from(*r.model, init).str();
  r.model->to(device);
  return r;
}

int64_t weights_in_bf16_except_ttt(HybridLM& model) {
  for (auto& [name, p] : model.named_parameters()) p.set_requires_grad(is_ttt_branch_parameter(name));
  return nn::store_frozen_in_bf16(model);
}

Tensor generate(const HybridLM& model, const Tensor& prompt, const GenerateOptions& o, Device device,
                const std::function<void(int64_t, const Tensor&)>& on_step) {
  const ModelConfig& c = model.config();
  TTT_CHECK(prompt.dim() == 3 && prompt.size(1) >= 1 && prompt.size(2) == c.num_streams(), "generate",
            "expected a prompt [B, P >= 1, ", c.num_streams(), "], got ", prompt.describe());
  const int64_t B = prompt.size(0), P = prompt.size(1), N = c.num_streams(), L = P + o.steps;
  const std::vector<double> given = prompt.to_vector<double>();
  for (size_t i = 0; i < given.size(); ++i) {  // checked once here: the steps skip the embeddings' host checks
    const int64_t s = static_cast<int64_t>(i) % N, id = static_cast<int64_t>(given[i]);
    TTT_CHECK(id == kNoToken || (id >= 0 && id <= c.pad_id(s)), "generate", "prompt token ", id, " of stream ", s, " at step ",
              (static_cast<int64_t>(i) / N) % P, " is outside [0, ", c.pad_id(s), "] (or -1, no token)");
  }
  NoGradGuard no_grad;
  compute::EmbeddingIdsChecked ids_checked;
  DrawStream draws(o.seed, device);
  std::vector<double> all(static_cast<size_t>(B * L * N), static_cast<double>(kNoToken));  // [B, L, N], filled as it goes
  for (int64_t b = 0; b < B; ++b) std::copy_n(given.begin() + b * P * N, P * N, all.begin() + b * L * N);
  const Tensor on_device = to_device(prompt.dtype() == DType::i64 ? prompt : cast(prompt, DType::i64), device);
  // every predicted stream is sampled on the device; the input-only ones carry no token after the prompt
  const int64_t predicted = model.depformer ? 1 + model.depformer->config().steps : N;
  // a step's tokens by stream, [N, B]: each sampler writes its stream's row, so nothing gathers
  // them; the input-only streams' rows keep "no token"
  const Tensor by_stream = full({N, B}, static_cast<double>(kNoToken), DType::i64, device);
  auto row = [&](int64_t s) { return squeeze(slice(by_stream, 0, s, s + 1), 0); };
  auto head = [&](int64_t s, const Tensor& hidden) {
    return squeeze(model.heads->at<nn::Linear>(static_cast<size_t>(s))->forward(hidden), 1);
  };
  ModelStream stream = model.start_stream(L);
  Tensor tokens = slice(on_device, 1, 0, 1);  // the step read next, [B, 1, N]
  for (int64_t p = 0; p + 1 < P; ++p) {       // the prompt: read, nothing sampled
    model.hidden_step(tokens, stream);
    tokens = slice(on_device, 1, p + 1, p + 2);
  }
  tokens = clone_data(tokens);  // from here on the step's input and output, rewritten in place
  // One generated step: read `tokens`, sample every predicted stream on the device, write the next
  // step's tokens into `tokens`. Nothing in it reads the device from the host.
  auto generated_step = [&] {
    const Tensor hidden = model.hidden_step(tokens, stream);
    const Tensor text = reshape(sample_tokens(head(0, hidden), o.text, draws, row(0)), {B, 1});
    if (model.depformer)
      model.depformer->generate(
          hidden, text, [&](int64_t k, const Tensor& logits) { return sample_tokens(logits, o.audio, draws, row(1 + k)); });
    else
      for (int64_t s = 1; s < predicted; ++s) sample_tokens(head(s, hidden), o.audio, draws, row(s));
    copy_into(tokens, reshape(permute(by_stream, {1, 0}), {B, 1, N}));  // at B = 1 the permute is a view: one copy
  };
  const bool use_graph = o.cuda_graph && device.is_cuda() && !profile::enabled() && samples_on_gpu(o.text, c.vocab(0)) &&
                         samples_on_gpu(o.audio, c.audio_vocab);
  CudaGraph graph;
  for (int64_t p = P - 1; p + 1 < L; ++p) {
    if (!use_graph || p == P - 1) {
      generated_step();  // eager (the first also fills the caches and the allocator's free lists)
    } else {
      if (!graph.captured()) {
        const int64_t steps = stream.steps;
        graph.capture(generated_step);  // records the host code's kernels once; the replays count the steps
        stream.steps = steps;
      }
      graph.replay();
      ++stream.steps;
    }
    // the one copy to the host a step (it waits for the step to finish): the sequence and on_step
    const Tensor next = to_device(tokens, Device::cpu());
    const std::vector<double> values = next.to_vector<double>();
    for (int64_t b = 0; b < B; ++b) std::copy_n(values.begin() + b * N, N, all.begin() + (b * L + p + 1) * N);
    if (on_step) on_step(p + 1, next);
  }
  return from_vector(all, {B, L, N}, DType::i64);
}

RecallAnswers answer_recall_queries(const HybridLM& model, const TrainConfig& c, int64_t batches, Device device) {
  TTT_CHECK(c.data.source == DataSourceKind::recall, "--recall", "the run was trained on ", enum_name(c.data.source),
            " data, not the recall task");
  std::unique_ptr<DataSource> data = make_data(c);
  NoGradGuard no_grad;
  RecallAnswers r;
  const int64_t pad = c.model.pad_id(0);
  for (int64_t i = 0; i < batches; ++i) {
    const Batch batch = data->batch(i, /*validation=*/true);
    const int64_t B = batch.inputs.size(0), S = batch.inputs.size(1);
    const std::vector<int64_t> targets = batch.targets.to_vector<int64_t>();
    ModelStream stream = model.start_stream(S);
    for (int64_t t = 0; t < S; ++t) {
      const Tensor logits = model.logits_step(to_device(slice(batch.inputs, 1, t, t + 1), device), stream)[0];
      bool any = false;
      for (int64_t b = 0; b < B; ++b) any = any || targets[static_cast<size_t>(b * S + t)] != pad;
      if (!any) continue;
      SamplingOptions greedy;
      greedy.greedy = true;
      DrawStream unused(0, logits.device());
      const std::vector<int64_t> answer = sample_tokens(squeeze(logits, 1), greedy, unused).to_vector<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        const int64_t want = targets[static_cast<size_t>(b * S + t)];
        if (want == pad) continue;
        ++r.total;
        r.correct += answer[static_cast<size_t>(b)] == want;
      }
    }
  }
  TrainConfig eval_config = c;
  eval_config.run.eval_batches = batches;
  r.eval_accuracy = evaluate(model, *data, eval_config, device).accuracy;
  return r;
}

Tensor undelay(const Tensor& sequence, const std::vector<int64_t>& delays) {
  const int64_t B = sequence.size(0), L = sequence.size(1), N = sequence.size(2);
  if (delays.empty()) return sequence;
  TTT_CHECK(static_cast<int64_t>(delays.size()) == N, "undelay", delays.size(), " delays for ", N, " streams");
  const int64_t max_delay = *std::max_element(delays.begin(), delays.end()), out_len = std::max<int64_t>(0, L - max_delay);
  const std::vector<double> in = sequence.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(B * out_len * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < out_len; ++t)
      for (int64_t s = 0; s < N; ++s)
        out[static_cast<size_t>((b * out_len + t) * N + s)] = in[static_cast<size_t>((b * L + t + delays[s]) * N + s)];
  return from_vector(out, {B, out_len, N}, DType::i64);
}

}  // namespace ttt
