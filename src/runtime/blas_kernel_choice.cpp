#include "arrakis/runtime/blas_kernel_choice.hpp"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

namespace arrakis {
namespace {

// Float32 matrix [rows, cols] with seeded entries in [-1, 1] (its own generator: LibTorch's global one is the user's).
torch::Tensor seeded_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto m = torch::empty({rows, cols}, torch::kFloat32);
  auto* p = m.data_ptr<float>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = uniform(rng);
  return m;
}

bool equal_ignoring_case(const std::string& a, const std::string& b) { return strcasecmp(a.c_str(), b.c_str()) == 0; }

// The canonical spelling of a core name, or empty when OpenBLAS has no such core.
std::string canonical_core(const std::string& name) {
  for (const auto& core : openblas_x86_core_names())
    if (equal_ignoring_case(core, name)) return core;
  return {};
}

struct CoreNeeds {
  const char* core;
  std::vector<std::pair<const char*, bool CpuFeatures::*>> features;
};

const std::vector<CoreNeeds>& core_table() {
  static const std::vector<CoreNeeds> table = {
      {"Prescott", {{"sse3", &CpuFeatures::sse3}}},
      {"Core2", {{"ssse3", &CpuFeatures::ssse3}}},
      {"Penryn", {{"sse4_1", &CpuFeatures::sse4_1}}},
      {"Dunnington", {{"sse4_1", &CpuFeatures::sse4_1}}},
      {"Nehalem", {{"sse4_2", &CpuFeatures::sse4_2}}},
      {"SandyBridge", {{"avx", &CpuFeatures::avx}}},
      {"Haswell", {{"avx2", &CpuFeatures::avx2}, {"fma", &CpuFeatures::fma}}},
      {"Zen", {{"avx2", &CpuFeatures::avx2}, {"fma", &CpuFeatures::fma}}},
      {"SkylakeX",
       {{"avx512f", &CpuFeatures::avx512f},
        {"avx512bw", &CpuFeatures::avx512bw},
        {"avx512dq", &CpuFeatures::avx512dq},
        {"avx512vl", &CpuFeatures::avx512vl}}},
      {"Cooperlake",
       {{"avx512f", &CpuFeatures::avx512f},
        {"avx512bw", &CpuFeatures::avx512bw},
        {"avx512dq", &CpuFeatures::avx512dq},
        {"avx512vl", &CpuFeatures::avx512vl},
        {"avx512_bf16", &CpuFeatures::avx512_bf16}}},
  };
  return table;
}

// A candidate's timing counts only when it beats OpenBLAS' own detection by more than this: measurements on a
// shared machine wobble by a few per cent, and OpenBLAS' own choice is the one its authors tested.
constexpr double kMinimumGain = 0.03;

}  // namespace

SgemmCheck verify_sgemm(const Matmul& matmul) {
  struct Shape {
    int64_t m, k, n;
    bool transpose_a, transpose_b;
  };
  // Odd sizes exercise the kernels' edge handling; transposed operands the other packing routines.
  const Shape shapes[] = {
      {67, 131, 45, false, false}, {96, 160, 128, true, false}, {200, 64, 136, false, true}, {33, 257, 65, true, true}};
  SgemmCheck check;
  check.ok = true;
  uint32_t seed = 1;
  for (const auto& s : shapes) {
    // Stored transposed when asked, so the product sees a non-contiguous (transposed) operand.
    auto a_store = s.transpose_a ? seeded_matrix(s.k, s.m, seed++) : seeded_matrix(s.m, s.k, seed++);
    auto b_store = s.transpose_b ? seeded_matrix(s.n, s.k, seed++) : seeded_matrix(s.k, s.n, seed++);
    auto a = s.transpose_a ? a_store.t() : a_store;
    auto b = s.transpose_b ? b_store.t() : b_store;
    torch::Tensor c;
    try {
      c = matmul(a, b).to(torch::kFloat32).contiguous();
    } catch (const std::exception& e) {
      check.ok = false;
      check.detail = fmt::format("{}x{}x{}: the product failed: {}", s.m, s.k, s.n, e.what());
      return check;
    }
    if (c.dim() != 2 || c.size(0) != s.m || c.size(1) != s.n) {
      check.ok = false;
      check.detail = fmt::format("{}x{}x{}: the product has the wrong shape", s.m, s.k, s.n);
      return check;
    }
    auto ac = a.contiguous(), bc = b.contiguous();
    const float *pa = ac.data_ptr<float>(), *pb = bc.data_ptr<float>(), *pc = c.data_ptr<float>();
    // Entry-wise error bound for a k-term float32 dot product: about k units of round-off (2^-24 each), scaled by
    // sum |a||b|; twice that is generous for any correct kernel and far below what a wrong one gives.
    const double tolerance = 2.0 * static_cast<double>(s.k) * std::ldexp(1.0, -24);
    check.tolerance = std::max(check.tolerance, tolerance);
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double sum = 0, magnitude = 0;
        for (int64_t p = 0; p < s.k; ++p) {
          const double x = pa[i * s.k + p], y = pb[p * s.n + j];
          sum += x * y;
          magnitude += std::abs(x * y);
        }
        const double got = pc[i * s.n + j];
        const double error = std::isfinite(got) ? std::abs(got - sum) / std::max(magnitude, 1e-30) : INFINITY;
        check.max_relative_error = std::max(check.max_relative_error, error);
        if (!(error <= tolerance) && check.ok) {
          check.ok = false;
          check.detail = fmt::format(
              "{}x{}x{}{}{}: entry [{}, {}] is {} but the float64 sum is {} (relative error "
              "{:.2e} > {:.2e})",
              s.m, s.k, s.n, s.transpose_a ? " (A transposed)" : "", s.transpose_b ? " (B transposed)" : "", i, j, got,
              sum, error, tolerance);
        }
      }
    }
  }
  return check;
}

bool cpu_can_run_core(const CpuFeatures& features, const std::string& core, std::string* missing) {
  const std::string name = canonical_core(core);
  auto it = std::find_if(core_table().begin(), core_table().end(),
                         [&](const CoreNeeds& needs) { return name == needs.core; });
  if (it == core_table().end()) {
    if (missing) *missing = "no entry in Arrakis' table of cores";
    return false;
  }
  std::vector<std::string> lacking;
  for (const auto& [feature, field] : it->features)
    if (!(features.*field)) lacking.emplace_back(feature);
  if (missing) *missing = fmt::format("{}", fmt::join(lacking, ", "));
  return lacking.empty();
}

std::vector<std::string> kernel_candidates(const CpuInfo& cpu) {
  const auto& f = cpu.features;
  std::vector<std::string> out;
  if (f.avx512_skylake()) {
    if (f.avx512_bf16) out.emplace_back("Cooperlake");
    out.emplace_back("SkylakeX");
  }
  if (f.avx2 && f.fma) {
    out.emplace_back("Haswell");
    if (cpu.is_amd()) out.emplace_back("Zen");
  }
  if (out.empty() && f.avx) out.emplace_back("SandyBridge");
  if (out.empty() && f.sse4_2) out.emplace_back("Nehalem");
  return out;
}

bool is_generic_fallback(const std::string& core, const CpuFeatures& features) {
  const std::string name = canonical_core(core);
  const bool vector_core = name == "SandyBridge" || name == "Haswell" || name == "Zen" || name == "SkylakeX" ||
                           name == "Cooperlake" || name == "Bulldozer" || name == "Piledriver" ||
                           name == "Steamroller" || name == "Excavator";
  if (features.avx2 && features.fma) return !vector_core || name == "SandyBridge";
  if (features.avx) return !vector_core;
  return false;
}

const char* to_string(KernelChoiceSource source) {
  switch (source) {
    case KernelChoiceSource::NotOpenBlas: return "not-openblas";
    case KernelChoiceSource::NotSwitchable: return "not-switchable";
    case KernelChoiceSource::UserOpenBlasCoretype: return "user-openblas-coretype";
    case KernelChoiceSource::UserOverride: return "user-override";
    case KernelChoiceSource::Cache: return "cache";
    case KernelChoiceSource::Measured: return "measured";
  }
  return "?";
}

nlohmann::json KernelMeasurement::to_json() const {
  return {{"requested", requested.empty() ? "(OpenBLAS' own detection)" : requested},
          {"core", core},
          {"verified", verified},
          {"max_relative_error", max_relative_error},
          {"gflops", gflops},
          {"note", note}};
}

nlohmann::json BlasKernelChoice::to_json() const {
  nlohmann::json measured = nlohmann::json::array();
  for (const auto& m : measurements) measured.push_back(m.to_json());
  return {{"source", to_string(source)},
          {"core_at_start", core_at_start},
          {"core", core},
          {"requested", requested.empty() ? "(OpenBLAS' own detection)" : requested},
          {"reason", reason},
          {"measurements", measured},
          {"warnings", warnings}};
}

BlasKernelEnvironment BlasKernelEnvironment::from_process() {
  BlasKernelEnvironment env;
  auto read = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (!value || !*value) return std::nullopt;
    return std::string(value);
  };
  env.openblas_coretype = read("OPENBLAS_CORETYPE");
  auto keep = read("ARRAKIS_KEEP_CORETYPE");
  env.keep_coretype = keep && *keep != "0";
  env.override_core = read("ARRAKIS_BLAS_CORETYPE");
  return env;
}

namespace {

// Measures every candidate (OpenBLAS' own detection first), verified before timed; returns the measurements.
std::vector<KernelMeasurement> measure_candidates(const CpuInfo& cpu, BlasKernelProbe& probe) {
  std::vector<std::string> requests{""};
  for (const auto& core : kernel_candidates(cpu)) requests.push_back(core);
  std::vector<KernelMeasurement> out;
  for (const auto& request : requests) {
    KernelMeasurement m;
    m.requested = request;
    std::string missing;
    if (!request.empty() && !cpu_can_run_core(cpu.features, request, &missing)) {  // never switched to
      m.note = "this CPU lacks " + missing;
      out.push_back(std::move(m));
      continue;
    }
    m.core = probe.switch_to(request);
    auto same = std::find_if(out.begin(), out.end(), [&](const KernelMeasurement& x) { return x.core == m.core; });
    if (!request.empty() && !equal_ignoring_case(m.core, request)) {
      m.note = fmt::format("OpenBLAS cannot be made to use {} (it used {} instead)", request, m.core);
      out.push_back(std::move(m));
      continue;
    }
    if (same != out.end()) {
      m.note =
          "the same kernels as " + (same->requested.empty() ? std::string("OpenBLAS' own detection") : same->requested);
      out.push_back(std::move(m));
      continue;
    }
    auto check = probe.verify();
    m.verified = check.ok;
    m.max_relative_error = check.max_relative_error;
    if (!check.ok) m.note = "wrong results: " + check.detail;
    out.push_back(std::move(m));
  }
  // Two timed rounds, interleaved, best of each: a burst of load elsewhere on the machine hits one round only.
  for (int round = 0; round < 2; ++round)
    for (auto& m : out)
      if (m.verified && m.note.empty()) {
        probe.switch_to(m.requested);
        m.gflops = std::max(m.gflops, probe.measure_gflops(0.12));
      }
  return out;
}

}  // namespace

BlasKernelChoice choose_blas_kernel(const CpuInfo& cpu, const BlasLibrary& blas, const BlasKernelEnvironment& env,
                                    const std::optional<CachedKernel>& cached, BlasKernelProbe& probe) {
  BlasKernelChoice choice;
  choice.core_at_start = blas.core;
  choice.core = blas.core;
  if (blas.kind != BlasKind::OpenBlas) {
    choice.source = KernelChoiceSource::NotOpenBlas;
    choice.reason = fmt::format("the BLAS is {}, not OpenBLAS: its own kernel selection is used", to_string(blas.kind));
    return choice;
  }
  if (!blas.can_switch_core) {
    choice.source = KernelChoiceSource::NotSwitchable;
    choice.reason = blas.dynamic_arch ? "this OpenBLAS does not export the calls that re-run its kernel choice"
                                      : "this OpenBLAS was built for one CPU (no DYNAMIC_ARCH): its kernels are fixed";
    return choice;
  }
  auto use = [&](const std::string& request) {
    choice.requested = request;
    choice.core = probe.switch_to(request);
  };

  // 1. ARRAKIS_BLAS_CORETYPE: the user's choice, if this CPU can run it and it computes correctly.
  if (env.override_core) {
    const std::string& wanted = *env.override_core;
    const std::string core = canonical_core(wanted);
    std::string missing;
    if (equal_ignoring_case(wanted, "openblas")) {
      use("");
      choice.source = KernelChoiceSource::UserOverride;
      choice.reason = "ARRAKIS_BLAS_CORETYPE=openblas: OpenBLAS' own detection, as asked";
      return choice;
    }
    if (core.empty()) {
      choice.warnings.push_back(
          fmt::format("ARRAKIS_BLAS_CORETYPE={} is not an OpenBLAS core (use one of {}, or "
                      "'openblas'); choosing automatically",
                      wanted, fmt::join(openblas_x86_core_names(), ", ")));
    } else if (!cpu_can_run_core(cpu.features, core, &missing)) {
      choice.warnings.push_back(
          fmt::format("ARRAKIS_BLAS_CORETYPE={} refused: this CPU lacks {} (its kernels would "
                      "stop the program with an illegal instruction); choosing automatically",
                      wanted, missing));
    } else {
      use(core);
      auto check = equal_ignoring_case(choice.core, core) ? probe.verify() : SgemmCheck{};
      if (check.ok) {
        choice.source = KernelChoiceSource::UserOverride;
        choice.reason = fmt::format("ARRAKIS_BLAS_CORETYPE={}, as asked (verified against float64)", core);
        return choice;
      }
      choice.warnings.push_back(
          equal_ignoring_case(choice.core, core)
              ? fmt::format("ARRAKIS_BLAS_CORETYPE={} refused: its results are wrong ({}); choosing automatically",
                            core, check.detail)
              : fmt::format("ARRAKIS_BLAS_CORETYPE={} refused: OpenBLAS cannot be made to use it (it used {}); "
                            "choosing automatically",
                            core, choice.core));
    }
  }
  // 2. OPENBLAS_CORETYPE with ARRAKIS_KEEP_CORETYPE: OpenBLAS applied it while loading; leave it.
  else if (env.openblas_coretype && env.keep_coretype) {
    choice.source = KernelChoiceSource::UserOpenBlasCoretype;
    choice.reason = fmt::format("OPENBLAS_CORETYPE={} kept (ARRAKIS_KEEP_CORETYPE is set)", *env.openblas_coretype);
    return choice;
  }

  // 3. A decision measured earlier for this CPU model and BLAS build.
  if (cached) {
    use(cached->requested);
    if (choice.core == cached->core) {
      choice.source = KernelChoiceSource::Cache;
      choice.reason = fmt::format("{} ({}), measured fastest on this CPU model and BLAS build earlier", choice.core,
                                  cached->requested.empty() ? "OpenBLAS' own detection" : "chosen by Arrakis");
      return choice;
    }
  }

  // 4. Measure: each candidate verified, then timed; the fastest wins, OpenBLAS' own detection unless beaten.
  choice.measurements = measure_candidates(cpu, probe);
  const KernelMeasurement* own = nullptr;
  const KernelMeasurement* best = nullptr;
  for (const auto& m : choice.measurements) {
    if (!m.verified || !m.note.empty()) continue;
    if (m.requested.empty()) own = &m;
    if (!best || m.gflops > best->gflops) best = &m;
  }
  choice.source = KernelChoiceSource::Measured;
  if (!best) {  // nothing verified: OpenBLAS' own detection is the least surprising
    use("");
    choice.warnings.push_back("no OpenBLAS kernels passed verification against float64; using OpenBLAS' own choice");
    choice.reason = "no candidate verified";
    return choice;
  }
  if (own && own->gflops >= best->gflops * (1.0 - kMinimumGain)) best = own;
  use(best->requested);
  choice.reason = fmt::format("{} measured fastest: {:.0f} GFLOP/s{}", best->core, best->gflops,
                              best->requested.empty() ? " (OpenBLAS' own detection)" : "");
  if (own && best != own)
    choice.reason += fmt::format(" against {:.0f} for OpenBLAS' own choice {}", own->gflops, own->core);
  return choice;
}

}  // namespace arrakis
