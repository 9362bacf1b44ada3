#pragma once
// Choosing OpenBLAS' kernels for this CPU at start-up. OpenBLAS 0.3.21 does not recognise some current CPUs and falls
// back to generic SSE3 kernels (6x slower on an AVX-512 Xeon); a forced OPENBLAS_CORETYPE can be just as wrong. So
// Arrakis reads the CPU's features, offers OpenBLAS the kernels they allow, verifies each against a float64
// reference, times them, keeps the fastest, and remembers the decision per CPU model and BLAS build.
// docs/performance.md describes the mechanism.
#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/runtime/blas_library.hpp"
#include "arrakis/runtime/cpu_info.hpp"

namespace arrakis {

// ---- verification ----------------------------------------------------------------------------------------------
struct SgemmCheck {
  bool ok = false;
  double max_relative_error = 0;  // max |c - ref| / (|a| |b|) over the entries, ref summed in float64
  double tolerance = 0;
  std::string detail;  // the first failing shape, when one fails
};
using Matmul = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
/// Multiplies float32 matrices of awkward shapes (plain and transposed operands, so every packing path runs) with
/// `matmul` and compares each entry with a float64 sum computed here, independently of any BLAS.
SgemmCheck verify_sgemm(const Matmul& matmul);

// ---- the decision table ----------------------------------------------------------------------------------------
/// The CPU features `core`'s kernels need; false (with the missing ones in `missing`) when this CPU lacks any. A
/// core Arrakis has no table entry for is never run.
bool cpu_can_run_core(const CpuFeatures& features, const std::string& core, std::string* missing = nullptr);
/// The OpenBLAS cores worth trying on this CPU, best expected first (OpenBLAS' own detection is tried besides).
std::vector<std::string> kernel_candidates(const CpuInfo& cpu);
/// True when `core` is a generic fallback far below what this CPU supports (e.g. Prescott on an AVX2 CPU).
bool is_generic_fallback(const std::string& core, const CpuFeatures& features);

// ---- the decision --------------------------------------------------------------------------------------------
enum class KernelChoiceSource {
  NotOpenBlas,           // another BLAS: nothing to choose
  NotSwitchable,         // OpenBLAS without DYNAMIC_ARCH: its kernels are fixed at build time
  UserOpenBlasCoretype,  // OPENBLAS_CORETYPE with ARRAKIS_KEEP_CORETYPE=1: the user's choice, kept
  UserOverride,          // ARRAKIS_BLAS_CORETYPE: the user's choice, verified
  Cache,                 // an earlier measurement on this CPU model and BLAS build
  Measured,              // measured now
};
const char* to_string(KernelChoiceSource source);

struct KernelMeasurement {
  std::string requested;  // the core asked for; empty = OpenBLAS' own detection
  std::string core;       // the core OpenBLAS then used
  bool verified = false;
  double max_relative_error = 0;
  double gflops = 0;  // sgemm 1024 x 768 x 3072, best of the timed rounds
  std::string note;   // why it was not measured, when it was not
  nlohmann::json to_json() const;
};

struct BlasKernelChoice {
  KernelChoiceSource source = KernelChoiceSource::NotOpenBlas;
  std::string core_at_start;  // the core OpenBLAS had chosen when Arrakis started
  std::string core;           // the core in use after the choice
  std::string requested;      // what Arrakis asked OpenBLAS for (empty: its own detection)
  std::string reason;         // one sentence a user can read
  std::vector<KernelMeasurement> measurements;
  std::vector<std::string> warnings;  // user choices refused, and why
  nlohmann::json to_json() const;
};

struct BlasKernelEnvironment {
  std::optional<std::string> openblas_coretype;  // OPENBLAS_CORETYPE
  bool keep_coretype = false;                    // ARRAKIS_KEEP_CORETYPE set (non-empty, not "0")
  std::optional<std::string> override_core;      // ARRAKIS_BLAS_CORETYPE: a core name, or "openblas"
  static BlasKernelEnvironment from_process();
};

/// What the decision needs to do to the BLAS: an interface so the decision logic can be tested on any CPU.
class BlasKernelProbe {
 public:
  virtual ~BlasKernelProbe() = default;
  /// Switches to `core` (empty: OpenBLAS' own detection); returns the core in use afterwards.
  virtual std::string switch_to(const std::string& core) = 0;
  /// Checks the kernels in use now (verify_sgemm).
  virtual SgemmCheck verify() = 0;
  /// sgemm GFLOP/s of the kernels in use now, timed for about `seconds`.
  virtual double measure_gflops(double seconds) = 0;
};

/// A decision remembered from an earlier run.
struct CachedKernel {
  std::string requested;  // as BlasKernelChoice::requested
  std::string core;       // the core that request gave
};

/// The decision. `probe` is used to verify, time and finally switch; nothing else is touched.
BlasKernelChoice choose_blas_kernel(const CpuInfo& cpu, const BlasLibrary& blas, const BlasKernelEnvironment& env,
                                    const std::optional<CachedKernel>& cached, BlasKernelProbe& probe);

// ---- this process ----------------------------------------------------------------------------------------------
/// Makes the choice for this process once (the first call; later calls return it): reads the CPU, the BLAS and the
/// environment, the cached decision under $XDG_CACHE_HOME/arrakis (or ~/.cache/arrakis), measures when there is
/// none, and switches OpenBLAS' kernels. Call before other threads run matmuls. HookedTransformer's constructor and
/// configure_runtime() call it, so programs need not.
const BlasKernelChoice& select_blas_kernel();
/// Measures again and replaces the cached decision (`arrakis doctor --remeasure`).
const BlasKernelChoice& reselect_blas_kernel();
/// Where decisions are cached.
std::string blas_kernel_cache_path();
/// sgemm GFLOP/s of one GPT-2-small-sized product (1024 x 768 @ 768 x 3072) with the kernels in use, calls repeated
/// for about `seconds`: the fastest call (`best`, for comparing kernels under noise) or the median one (the typical
/// rate a workload is held against).
enum class SgemmStatistic { Best, Median };
double measure_sgemm_gflops(double seconds = 0.3, SgemmStatistic statistic = SgemmStatistic::Best);

}  // namespace arrakis
