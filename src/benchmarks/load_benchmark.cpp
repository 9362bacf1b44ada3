#include "arrakis/benchmarks/load_benchmark.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "arrakis/error.hpp"
#include "arrakis/io/safetensors.hpp"
#include "arrakis/model/loading.hpp"
#include "arrakis/util/seeded_generator.hpp"
#include "benchmarks/child_process.hpp"

namespace arrakis {
namespace fs = std::filesystem;
namespace {

/// A field of /proc/self/status ("VmRSS", "VmHWM") in MiB.
double proc_status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with(field + ":")) return std::stod(line.substr(field.size() + 1)) / 1024.0;  // kB
  throw Error(fmt::format("/proc/self/status has no {} line", field));
}

double file_mb(const fs::path& dir) {
  uintmax_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto ext = entry.path().extension();
    if (ext == ".safetensors" || ext == ".bin" || ext == ".pth") bytes += entry.file_size();
  }
  return static_cast<double>(bytes) / (1 << 20);
}

LoadMeasurement measure_in_child(const LoadBenchmarkOptions& o, const fs::path& dir, const std::string& dtype) {
  auto command = o.child_command;
  for (const std::string& arg : {std::string("--model"), dir.string(), std::string("--dtype"), dtype})
    command.push_back(arg);
  return LoadMeasurement::from_json(run_child_for_json(command, {}, "bench load (" + dtype + ")"));
}

}  // namespace

nlohmann::json LoadMeasurement::to_json() const {
  return {{"dtype", dtype},
          {"baseline_rss_mb", baseline_rss_mb},
          {"peak_rss_mb", peak_rss_mb},
          {"loaded_rss_mb", loaded_rss_mb},
          {"forward_rss_mb", forward_rss_mb},
          {"forward_peak_rss_mb", forward_peak_rss_mb},
          {"weights_mb", weights_mb},
          {"load_s", load_s}};
}

LoadMeasurement LoadMeasurement::from_json(const nlohmann::json& j) {
  LoadMeasurement m;
  m.dtype = j.at("dtype");
  m.baseline_rss_mb = j.at("baseline_rss_mb");
  m.peak_rss_mb = j.at("peak_rss_mb");
  m.loaded_rss_mb = j.at("loaded_rss_mb");
  m.forward_rss_mb = j.at("forward_rss_mb");
  m.forward_peak_rss_mb = j.at("forward_peak_rss_mb");
  m.weights_mb = j.at("weights_mb");
  m.load_s = j.at("load_s");
  return m;
}

LoadMeasurement measure_load(const fs::path& dir, const std::string& dtype) {
  torch::NoGradGuard no_grad;
  LoadOptions options;
  if (dtype == "float32")
    options.dtype = torch::kFloat32;
  else if (dtype == "bfloat16")
    options.dtype = torch::kBFloat16;
  else
    throw Error(fmt::format("bench load: --dtype must be float32 or bfloat16, not '{}'", dtype));
  options.load_tokenizer = false;
  LoadMeasurement m;
  m.dtype = dtype;
  m.baseline_rss_mb = proc_status_mb("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  auto model = load_pretrained(dir, options);
  m.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.peak_rss_mb = proc_status_mb("VmHWM") - m.baseline_rss_mb;
  m.loaded_rss_mb = proc_status_mb("VmRSS") - m.baseline_rss_mb;
  for (const auto& [name, tensor] : model.weights().named_parameters(model.config()))
    m.weights_mb += static_cast<double>(tensor.numel() * tensor.element_size()) / (1 << 20);
  // A forward reads every weight, so every page the model keeps becomes resident.
  model.forward(torch::arange(8, torch::kInt64).remainder(model.config().d_vocab).unsqueeze(0));
  m.forward_rss_mb = proc_status_mb("VmRSS") - m.baseline_rss_mb;
  m.forward_peak_rss_mb = proc_status_mb("VmHWM") - m.baseline_rss_mb;
  return m;
}

void write_random_gpt2_checkpoint(const fs::path& dir, const LoadBenchmarkOptions& s, uint64_t seed) {
  fs::create_directories(dir);
  auto generator = seeded_generator(seed);
  const int64_t d = s.d_model;
  NamedTensors tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool matrix) {
    auto t = matrix ? at::normal(0.0, 0.02, shape, generator, torch::TensorOptions().dtype(torch::kFloat32))
                    : torch::zeros(shape, torch::kFloat32);
    tensors.emplace_back(name, t);
  };
  add("wte.weight", {s.d_vocab, d}, true);
  add("wpe.weight", {s.n_ctx, d}, true);
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    tensors.emplace_back(p + "ln_1.weight", torch::ones({d}));
    add(p + "ln_1.bias", {d}, false);
    add(p + "attn.c_attn.weight", {d, 3 * d}, true);
    add(p + "attn.c_attn.bias", {3 * d}, false);
    add(p + "attn.c_proj.weight", {d, d}, true);
    add(p + "attn.c_proj.bias", {d}, false);
    tensors.emplace_back(p + "ln_2.weight", torch::ones({d}));
    add(p + "ln_2.bias", {d}, false);
    add(p + "mlp.c_fc.weight", {d, 4 * d}, true);
    add(p + "mlp.c_fc.bias", {4 * d}, false);
    add(p + "mlp.c_proj.weight", {4 * d, d}, true);
    add(p + "mlp.c_proj.bias", {d}, false);
  }
  tensors.emplace_back("ln_f.weight", torch::ones({d}));
  add("ln_f.bias", {d}, false);
  save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  nlohmann::json config = {{"model_type", "gpt2"}, {"n_layer", s.n_layers},   {"n_embd", d},
                           {"n_head", s.n_heads},  {"vocab_size", s.d_vocab}, {"n_positions", s.n_ctx}};
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
}

LoadBenchmarkResult run_load_benchmark(const LoadBenchmarkOptions& o) {
  auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  LoadBenchmarkResult r;
  fs::path dir;
  std::optional<fs::path> generated;
  if (o.model) {
    dir = *o.model;
  } else {
    generated = fs::temp_directory_path() / fmt::format("arrakis-bench-load-{}", ::getpid());
    dir = *generated;
    say(fmt::format("writing a GPT-2-shaped checkpoint ({} layers, d_model {}) to {}", o.n_layers, o.d_model,
                    dir.string()));
    write_random_gpt2_checkpoint(dir, o, 0);
  }
  r.model = o.model ? dir.string() : fmt::format("gpt2-shaped random ({} layers, d_model {})", o.n_layers, o.d_model);
  try {
    r.file_mb = file_mb(dir);
    say("loading as float32 in a child process");
    r.float32 = measure_in_child(o, dir, "float32");
    say("loading as bfloat16 in a child process");
    r.bfloat16 = measure_in_child(o, dir, "bfloat16");
  } catch (...) {
    if (generated) fs::remove_all(*generated);
    throw;
  }
  if (generated) fs::remove_all(*generated);
  r.float32_peak_over_file = r.float32.peak_rss_mb / r.file_mb;
  r.bfloat16_resident_ratio = r.bfloat16.forward_rss_mb / r.float32.forward_rss_mb;
  return r;
}

nlohmann::json LoadBenchmarkResult::to_json() const {
  return {{"model", model},
          {"file_mb", file_mb},
          {"float32", float32.to_json()},
          {"bfloat16", bfloat16.to_json()},
          {"float32_peak_over_file", float32_peak_over_file},
          {"bfloat16_resident_ratio", bfloat16_resident_ratio}};
}

std::string LoadBenchmarkResult::to_table() const {
  std::string s = fmt::format("checkpoint        {}  ({:.0f} MB of weight files)\n", model, file_mb);
  s += fmt::format("{:<10} {:>14} {:>10} {:>11} {:>16} {:>11} {:>7}\n", "dtype", "load peak MB", "loaded MB",
                   "forward MB", "forward peak MB", "weights MB", "load s");
  for (const auto* m : {&float32, &bfloat16})
    s += fmt::format("{:<10} {:>14.0f} {:>10.0f} {:>11.0f} {:>16.0f} {:>11.0f} {:>7.2f}\n", m->dtype, m->peak_rss_mb,
                     m->loaded_rss_mb, m->forward_rss_mb, m->forward_peak_rss_mb, m->weights_mb, m->load_s);
  s += fmt::format("float32 peak / file size      {:.2f}  (target <= 1.3: never two copies)\n", float32_peak_over_file);
  s += fmt::format("bfloat16 / float32 resident   {:.2f}  (target ~0.5)\n", bfloat16_resident_ratio);
  s += "(RSS figures are above the process's RSS before loading; each dtype runs in a fresh process)\n";
  return s;
}

}  // namespace arrakis
