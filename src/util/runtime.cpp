#include "arrakis/runtime.hpp"

#include <torch/torch.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace arrakis {

std::string configure_runtime() {
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* env = std::getenv("ARRAKIS_THREADS"); env && *env) threads = std::atoi(env);
  if (threads > 0) torch::set_num_threads(threads);
  // OpenBLAS reads OPENBLAS_CORETYPE when it loads, before main(); on this machine kind forcing "Haswell" halves
  // matmul throughput. The CLI re-executes itself without it; other programs can only be told.
  if (const char* coretype = std::getenv("OPENBLAS_CORETYPE"); coretype && *coretype)
    return std::string("OPENBLAS_CORETYPE=") + coretype +
           " is set: OpenBLAS may pick slower kernels than it detects itself (unset it for full speed)";
  return {};
}

const char* version() { return ARRAKIS_VERSION; }

}  // namespace arrakis
