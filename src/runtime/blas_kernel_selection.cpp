// This process's BLAS kernel choice: the real probe (OpenBLAS switched through its exported controls, LibTorch's mm
// timed), and the decision cached per CPU model and BLAS build so later starts cost nothing.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "util/seconds_since.hpp"

namespace arrakis {
namespace {

class OpenBlasProbe final : public BlasKernelProbe {
 public:
  std::string switch_to(const std::string& core) override { return openblas_switch_core(core); }
  SgemmCheck verify() override {
    return verify_sgemm([](const torch::Tensor& a, const torch::Tensor& b) { return torch::mm(a, b); });
  }
  double measure_gflops(double seconds) override { return measure_sgemm_gflops(seconds); }
};

// OpenBLAS writes the core in use into its config string: leave it out, so the key names the build, not the moment.
std::string cache_key(const CpuInfo& cpu, const BlasLibrary& blas) {
  std::string config = " " + blas.config + " ";
  if (!blas.core.empty())
    if (auto at = config.find(" " + blas.core + " "); at != std::string::npos) config.erase(at, blas.core.size() + 1);
  return cpu.identity() + " | " + blas.path + " |" + config.substr(0, config.size() - 1);
}

// The cache is a convenience: an unreadable, damaged or foreign file is ignored (and replaced on the next write).
nlohmann::json read_cache_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("entries") || !json["entries"].is_object()) return nlohmann::json::object();
  return json;
}

std::optional<CachedKernel> cached_choice(const std::string& key) {
  auto json = read_cache_file(blas_kernel_cache_path());
  if (json.empty() || !json["entries"].contains(key)) return std::nullopt;
  const auto& entry = json["entries"][key];
  if (!entry.is_object() || !entry.contains("requested") || !entry["requested"].is_string() ||
      !entry.contains("core") || !entry["core"].is_string())
    return std::nullopt;
  return CachedKernel{entry["requested"].get<std::string>(), entry["core"].get<std::string>()};
}

void store_choice(const std::string& key, const BlasKernelChoice& choice) {
  const std::filesystem::path path = blas_kernel_cache_path();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  auto json = read_cache_file(path);
  if (json.empty())
    json = {{"format", "arrakis blas kernel choices, version 1"}, {"entries", nlohmann::json::object()}};
  nlohmann::json measured = nlohmann::json::array();
  for (const auto& m : choice.measurements) measured.push_back(m.to_json());
  json["entries"][key] = {{"requested", choice.requested}, {"core", choice.core}, {"measurements", measured}};
  // Written beside and renamed over: a concurrent reader sees the old file or the new one, never half of one.
  const auto temporary = path.string() + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temporary);
    if (!out) return;
    out << json.dump(2) << "\n";
    if (!out) return;
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) std::filesystem::remove(temporary, ec);
}

BlasKernelChoice make_choice(bool use_cache) {
  const CpuInfo cpu = read_cpu_info();
  const BlasLibrary blas = detect_blas_library();
  const auto env = BlasKernelEnvironment::from_process();
  const std::string key = cache_key(cpu, blas);
  OpenBlasProbe probe;
  auto choice = choose_blas_kernel(cpu, blas, env, use_cache ? cached_choice(key) : std::nullopt, probe);
  if (choice.source == KernelChoiceSource::Measured) store_choice(key, choice);
  return choice;
}

std::mutex& choice_mutex() {
  static std::mutex m;
  return m;
}
std::optional<BlasKernelChoice>& process_choice() {
  static std::optional<BlasKernelChoice> choice;
  return choice;
}

}  // namespace

std::string blas_kernel_cache_path() {
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = std::filesystem::path(home) / ".cache";
  else
    base = std::filesystem::temp_directory_path();
  return (base / "arrakis" / "blas-kernels.json").string();
}

double measure_sgemm_gflops(double seconds, SgemmStatistic statistic) {
  torch::NoGradGuard no_grad;
  const int64_t m = 1024, k = 768, n = 3072;
  auto a = torch::full({m, k}, 0.01f), b = torch::full({k, n}, 0.02f), c = torch::empty({m, n});
  torch::mm_out(c, a, b);  // warm-up: packing buffers, threads
  std::vector<double> rates;
  const auto start = std::chrono::steady_clock::now();
  do {
    const auto t = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    rates.push_back(2.0 * m * k * n / seconds_since(t) / 1e9);
  } while (seconds_since(start) < seconds || rates.size() < 3);
  std::sort(rates.begin(), rates.end());
  return statistic == SgemmStatistic::Best ? rates.back() : rates[rates.size() / 2];
}

const BlasKernelChoice& select_blas_kernel() {
  std::lock_guard lock(choice_mutex());
  auto& choice = process_choice();
  if (!choice) choice = make_choice(/*use_cache=*/true);
  return *choice;
}

const BlasKernelChoice& reselect_blas_kernel() {
  std::lock_guard lock(choice_mutex());
  process_choice() = make_choice(/*use_cache=*/false);
  return *process_choice();
}

}  // namespace arrakis
