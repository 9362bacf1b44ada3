#include "arrakis/runtime.hpp"

#include <fmt/format.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdlib>
#include <string>

#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "arrakis/runtime/cpu_info.hpp"
#include "arrakis/runtime/cpu_memory.hpp"

namespace arrakis {

std::string configure_runtime() {
  install_cpu_caching_allocator();
  int threads = read_cpu_info().logical_cpus;
  if (const char* env = std::getenv("ARRAKIS_THREADS"); env && *env) threads = std::atoi(env);
  if (threads > 0) torch::set_num_threads(threads);
  std::string warnings;
  for (const auto& warning : select_blas_kernel().warnings) warnings += (warnings.empty() ? "" : "\n") + warning;
  return warnings;
}

const char* version() { return ARRAKIS_VERSION; }

}  // namespace arrakis
