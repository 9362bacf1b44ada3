#pragma once
// Which BLAS LibTorch's float32 matmuls really run on (whatever libblas.so.3 resolves to, or one linked into
// LibTorch itself), and, for OpenBLAS, the kernels it uses and the means to change them while running.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

enum class BlasKind { OpenBlas, Mkl, Blis, Reference, Unknown };
const char* to_string(BlasKind kind);

struct BlasLibrary {
  BlasKind kind = BlasKind::Unknown;
  std::string path;              // the shared object defining sgemm_ (symbolic links resolved); empty when linked in
  std::string version;           // "0.3.21"
  std::string config;            // OpenBLAS: openblas_get_config() ("OpenBLAS 0.3.21 DYNAMIC_ARCH USE_OPENMP ...")
  std::string core;              // OpenBLAS: the kernels in use now (openblas_get_corename())
  bool dynamic_arch = false;     // OpenBLAS built with kernels for many CPUs, chosen at run time
  bool can_switch_core = false;  // dynamic_arch and the entry points to re-run its choice are exported
  bool openmp = false;  // OpenBLAS: threads through OpenMP (shares LibTorch's pool) rather than its own pthreads
  int threads = 0;      // OpenBLAS: openblas_get_num_threads()

  nlohmann::json to_json() const;
};

/// Inspects the BLAS loaded in this process now (the core reported is the one in use at the time of the call).
BlasLibrary detect_blas_library();

/// OpenBLAS' dynamic-architecture controls. `core` is one of OpenBLAS' core names ("SkylakeX", "Haswell", ...), or
/// empty for OpenBLAS' own detection. Returns the core in use afterwards (OpenBLAS falls back to its own detection
/// for a name it does not know or cannot force). Not thread-safe: call before other threads run matmuls. Requires
/// BlasLibrary::can_switch_core.
std::string openblas_switch_core(const std::string& core);
std::string openblas_current_core();

/// The x86-64 core names OpenBLAS 0.3.x's DYNAMIC_ARCH builds know, in OpenBLAS' spelling.
const std::vector<std::string>& openblas_x86_core_names();

}  // namespace arrakis
