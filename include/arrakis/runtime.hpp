#pragma once
// Process-wide settings every Arrakis program makes once at start-up.
#include <string>

namespace arrakis {

/// Installs the caching CPU allocator (runtime/cpu_memory.hpp), sets LibTorch's intra-op threads to the CPUs this
/// process may use (LibTorch defaults to 1 here) unless $ARRAKIS_THREADS says otherwise, then chooses the BLAS kernels
/// (select_blas_kernel, runtime/blas_kernel_choice.hpp). Returns warnings to show the user (a refused
/// ARRAKIS_BLAS_CORETYPE, ...); empty when all is well.
std::string configure_runtime();

/// The library version ("0.1.0").
const char* version();

}  // namespace arrakis
