// ttt-eval: held-out evaluation of one or more runs (docs/inference.md): loss, perplexity, bits per
// byte for byte-level text, accuracy (for the recall task: its answers), and the loss by position
// in the window, as text, JSON and a plot. The numbers come from train/evaluate.h, as ttt-train's.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/files.h"
#include "nn/safetensors.h"
#include "train/cli.h"
#include "train/evaluate.h"
#include "train/generate.h"
#include "train/metrics.h"

namespace {

const char* kUsage =
    "usage: ttt-eval RUN_DIR [RUN_DIR ...] [options]\n"
    "  --data FILE        a held-out text or token file (the run's kind), all of it; default: the run's validation split\n"
    "  --batches N        evaluation batches (default: the run's run.eval_batches)\n"
    "  --buckets K        loss by position in K buckets of positions (default 16)\n"
    "  --json FILE        write the report as JSON (new or a regular file)\n"
    "  --plot FILE.png    plot the loss by position of every run (tools/plot_eval.py, needs matplotlib)\n"
    "  --device auto|cpu|cuda[:N]\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace ttt;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (const int code = cli::help_or_version(args, "ttt-eval", kUsage); code >= 0) return code;
  return cli::guarded_main("ttt-eval", [&] {
    const cli::Args a =
        cli::parse_args(args, {"--data", "--batches", "--buckets", "--json", "--plot", "--device"}, {}, "ttt-eval");
    const std::vector<std::string>& runs = a.positional;
    const std::map<std::string, std::string>& value = a.values;
    if (runs.empty()) {
      std::cerr << kUsage;
      return 2;
    }
    for (const char* out : {"--json", "--plot"})
      if (value.count(out)) require_replaceable_output(value.at(out), "ttt-eval");  // before any work
    const std::string device_name = value.count("--device") ? value.at("--device") : "auto";
    const Device device =
        device_name == "auto" ? (cuda_available() ? Device::cuda(0) : Device::cpu()) : Device::parse(device_name);
    const int64_t buckets = value.count("--buckets") ? cli::parse_int("--buckets", value.at("--buckets"), 1, 1 << 20) : 16;

    nlohmann::ordered_json report;
    report["runs"] = nlohmann::ordered_json::array();
    for (const std::string& dir : runs) {
      RunModel run = load_run_model(dir, device);
      TrainConfig c = run.config;
      if (value.count("--data")) {
        TTT_CHECK(c.data.source != DataSourceKind::recall, "--data", dir,
                  " was trained on the generated recall task: it has no file");
        c.data.path = value.at("--data");
        c.data.held_out = true;
      }
      if (value.count("--batches")) c.run.eval_batches = cli::parse_int("--batches", value.at("--batches"), 1, 1 << 20);
      const std::unique_ptr<DataSource> data = make_data(c);
      TTT_CHECK(data->has_validation(), "ttt-eval", dir, " has no validation split (data.val_fraction: 0): give --data");
      const EvalResult e = evaluate(*run.model, *data, c, device);
      nlohmann::ordered_json r;
      r["run"] = dir;
      r["step"] = run.step;
      r["data"] = data->describe();
      r["batches"] = c.run.eval_batches;
      r["loss"] = e.loss;
      r["perplexity"] = std::exp(e.loss);
      const bool bytes = c.data.source == DataSourceKind::text;
      if (bytes) r["bits_per_byte"] = e.loss / std::log(2.0);
      r["accuracy"] = e.accuracy;
      // the loss's parts: the depformer's text and audio losses, or one per stream
      const bool depformer = c.model.audio_head == AudioHead::depformer;
      nlohmann::ordered_json parts;
      for (size_t k = 0; k < e.part_losses.size(); ++k)
        parts[depformer ? (k == 0 ? "text" : "audio") : "stream " + std::to_string(k)] = e.part_losses[k];
      r["loss_parts"] = parts;
      r["targets"] = e.counted;
      // loss by position, in buckets of equal width (each the mean over its targets)
      const int64_t S = static_cast<int64_t>(e.loss_by_position.size()),
                    width = std::max<int64_t>(1, (S + buckets - 1) / buckets);
      std::vector<int64_t> starts;
      std::vector<double> losses;
      for (int64_t lo = 0; lo < S; lo += width) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t t = lo; t < std::min(S, lo + width); ++t) {
          sum += e.loss_by_position[static_cast<size_t>(t)] * static_cast<double>(e.targets_by_position[static_cast<size_t>(t)]);
          n += e.targets_by_position[static_cast<size_t>(t)];
        }
        if (n == 0) continue;
        starts.push_back(lo);
        losses.push_back(sum / static_cast<double>(n));
      }
      r["loss_by_position"] = {{"position", starts}, {"loss", losses}};
      std::printf("%s (step %lld): loss %.4f, perplexity %.3f%s, accuracy %.4f over %lld targets; %s\n", dir.c_str(),
                  static_cast<long long>(run.step), e.loss, std::exp(e.loss),
                  bytes ? (", " + std::to_string(e.loss / std::log(2.0)).substr(0, 6) + " bits per byte").c_str() : "",
                  e.accuracy, static_cast<long long>(e.counted), data->describe().c_str());
      if (e.part_losses.size() > 1) {
        std::printf("  loss parts:");
        for (const auto& [name, v] : parts.items()) std::printf(" %s %.4f", name.c_str(), v.get<double>());
        std::printf("\n");
      }
      std::printf("  loss by position:");
      for (size_t i = 0; i < starts.size(); ++i) std::printf(" %lld:%.3f", static_cast<long long>(starts[i]), losses[i]);
      std::printf("\n");
      report["runs"].push_back(r);
    }
    const std::string text = report.dump(2) + "\n";
    std::string json_path = value.count("--json") ? value.at("--json") : "";
    if (!json_path.empty()) nn::write_file_atomically(json_path, text);
    if (value.count("--plot")) {
      std::string source = json_path;
      std::string scratch;  // without --json the plot reads the report from a temporary file of our own
      if (source.empty()) {
        char name[] = "/tmp/ttt-eval-XXXXXX.json";
        const int fd = ::mkstemps(name, 5);
        TTT_CHECK(fd >= 0, "ttt-eval", "cannot make a temporary file for the plot's data");
        ::close(fd);
        source = scratch = name;
        nn::write_file_atomically(source, text);
      }
      const bool plotted = run_python_tool("plot_eval.py", {source, value.at("--plot")});
      if (!scratch.empty()) std::remove(scratch.c_str());
      if (plotted)
        std::printf("plot: %s\n", value.at("--plot").c_str());
      else
        std::printf("(no plot: tools/plot_eval.py needs python3 with matplotlib, see tools/setup.sh)\n");
    }
    return 0;
  });
}
