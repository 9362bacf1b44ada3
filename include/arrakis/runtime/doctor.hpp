#pragma once
// `arrakis doctor`: everything that decides how fast Arrakis runs here — LibTorch's build, the BLAS and the kernels
// in use (and why), the CPU, threads, a measured sgemm, devices — and a line per problem found, with its fix.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "arrakis/runtime/blas_library.hpp"
#include "arrakis/runtime/cpu_info.hpp"

namespace arrakis {

struct DoctorOptions {
  bool remeasure = false;      // measure the BLAS kernels again, replacing the cached decision
  double sgemm_seconds = 0.5;  // how long to time the sgemm
};

struct DoctorProblem {
  std::string problem;
  std::string fix;
};

struct ThreadSettings {
  int torch_intra_op = 0, torch_inter_op = 0;
  int openmp_max = 0;                                            // omp_get_max_threads(), 0 when OpenMP is not loaded
  int openblas = 0;                                              // openblas_get_num_threads(), 0 when not OpenBLAS
  std::vector<std::pair<std::string, std::string>> environment;  // OMP_NUM_THREADS, ... as set
};

struct DeviceSummary {
  bool cuda_available = false;
  int cuda_devices = 0;
};

struct DoctorReport {
  std::string arrakis_version;
  std::string libtorch_version;
  std::string libtorch_config;          // at::show_config()
  std::string libtorch_cpu_capability;  // the vector kernels LibTorch's own ops use ("AVX2", "AVX512", ...)
  CpuInfo cpu;
  BlasLibrary blas;
  BlasKernelChoice kernel;
  ThreadSettings threads;
  std::string sgemm_shape;  // "1024x768 @ 768x3072"
  double sgemm_gflops = 0;
  double load_average = 0;  // 1-minute load average (other processes compete for the CPUs above 'cpus')
  DeviceSummary devices;
  std::vector<DoctorProblem> problems;
  std::vector<std::string> notes;  // worth knowing, not problems

  nlohmann::json to_json() const;
  std::string to_text() const;
};

DoctorReport run_doctor(const DoctorOptions& options = {});

}  // namespace arrakis
