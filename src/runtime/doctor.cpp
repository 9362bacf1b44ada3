#include "arrakis/runtime/doctor.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <cstdlib>
#include <fstream>
#include <regex>

#include "arrakis/runtime.hpp"

namespace arrakis {
namespace {

std::string capture(const std::string& text, const char* pattern) {
  std::smatch m;
  std::regex re(pattern);
  return std::regex_search(text, m, re) ? m[1].str() : std::string();
}

ThreadSettings read_threads(const BlasLibrary& blas) {
  ThreadSettings t;
  t.torch_intra_op = torch::get_num_threads();
  t.torch_inter_op = at::get_num_interop_threads();
  if (auto* omp = reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "omp_get_max_threads"))) t.openmp_max = omp();
  t.openblas = blas.threads;
  for (const char* name : {"ARRAKIS_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                           "GOTO_NUM_THREADS", "OPENBLAS_CORETYPE", "ARRAKIS_KEEP_CORETYPE", "ARRAKIS_BLAS_CORETYPE"})
    if (const char* value = std::getenv(name); value && *value) t.environment.emplace_back(name, value);
  return t;
}

double read_load_average() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return in ? one : 0.0;
}

void find_problems(DoctorReport& r) {
  const auto& f = r.cpu.features;
  const std::string alternatives =
      "sudo apt install libopenblas-openmp-dev && sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu "
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 (scripts/setup.sh does both)";
  switch (r.blas.kind) {
    case BlasKind::Reference:
      r.problems.push_back({"LibTorch's matmuls run on the reference BLAS (netlib, " + r.blas.path +
                                "): about 60x slower than an optimised one",
                            alternatives});
      break;
    case BlasKind::Unknown:
      r.notes.push_back("no BLAS library could be identified (LibTorch may use one linked into itself)");
      break;
    case BlasKind::OpenBlas:
      if (!r.blas.openmp && r.blas.dynamic_arch)
        r.problems.push_back(
            {"OpenBLAS runs its own pthreads, which fight LibTorch's OpenMP threads for the cores "
             "(about 1.5x slower forwards measured)",
             alternatives});
      if (is_generic_fallback(r.blas.core, f))
        r.problems.push_back(
            {fmt::format("OpenBLAS runs its generic '{}' kernels although this CPU has {} (several times slower)",
                         r.blas.core, f.avx512_skylake() ? "AVX-512" : "AVX2"),
             r.blas.can_switch_core ? "set ARRAKIS_BLAS_CORETYPE to one of: " +
                                          fmt::format("{}", fmt::join(kernel_candidates(r.cpu), ", "))
                                    : "install an OpenBLAS built with DYNAMIC_ARCH (Debian's libopenblas0-openmp)"});
      break;
    default: break;
  }
  for (const auto& w : r.kernel.warnings) r.problems.push_back({w, "unset ARRAKIS_BLAS_CORETYPE or choose another"});
  if (r.kernel.source == KernelChoiceSource::UserOpenBlasCoretype)
    r.notes.push_back(
        "the kernels are the user's (OPENBLAS_CORETYPE with ARRAKIS_KEEP_CORETYPE=1); unset "
        "ARRAKIS_KEEP_CORETYPE to let Arrakis measure the best");
  else if (r.kernel.source != KernelChoiceSource::NotOpenBlas && !r.kernel.core_at_start.empty() &&
           r.kernel.core_at_start != r.kernel.core)
    r.notes.push_back(fmt::format(
        "OpenBLAS started with '{}' kernels{}; Arrakis switched to '{}' ({})", r.kernel.core_at_start,
        std::getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE was set)" : "", r.kernel.core, r.kernel.reason));
  if (r.threads.torch_intra_op < r.cpu.logical_cpus)
    r.problems.push_back({fmt::format("LibTorch uses {} of the {} CPUs this process may use", r.threads.torch_intra_op,
                                      r.cpu.logical_cpus),
                          "unset ARRAKIS_THREADS (or raise it)"});
  for (const auto& [name, value] : r.threads.environment)
    if ((name == "OMP_NUM_THREADS" || name == "OPENBLAS_NUM_THREADS") && std::atoi(value.c_str()) > 0 &&
        std::atoi(value.c_str()) < r.cpu.logical_cpus)
      r.problems.push_back({fmt::format("{}={} limits BLAS threads below the {} CPUs", name, value, r.cpu.logical_cpus),
                            "unset " + name});
  if (r.load_average > r.cpu.logical_cpus)
    r.problems.push_back({fmt::format("the machine is busy (load average {:.1f} on {} CPUs): timings here are slower "
                                      "than the machine can do",
                                      r.load_average, r.cpu.logical_cpus),
                          "measure again when other jobs have finished"});
}

}  // namespace

DoctorReport run_doctor(const DoctorOptions& options) {
  DoctorReport r;
  r.arrakis_version = version();
  r.libtorch_version = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
  r.libtorch_config = at::show_config();
  r.libtorch_cpu_capability = capture(r.libtorch_config, R"(CPU capability usage:\s*([A-Za-z0-9_]+))");
  r.cpu = read_cpu_info();
  r.kernel = options.remeasure ? reselect_blas_kernel() : select_blas_kernel();
  r.blas = detect_blas_library();  // after the choice: the core in use now
  r.threads = read_threads(r.blas);
  r.sgemm_shape = "1024x768 @ 768x3072";
  r.sgemm_gflops = measure_sgemm_gflops(options.sgemm_seconds, SgemmStatistic::Median);
  r.load_average = read_load_average();
  r.devices.cuda_available = torch::cuda::is_available();
  r.devices.cuda_devices = r.devices.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  find_problems(r);
  return r;
}

nlohmann::json DoctorReport::to_json() const {
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [name, value] : threads.environment) env[name] = value;
  nlohmann::json problem_list = nlohmann::json::array();
  for (const auto& p : problems) problem_list.push_back({{"problem", p.problem}, {"fix", p.fix}});
  return {
      {"arrakis_version", arrakis_version},
      {"libtorch",
       {{"version", libtorch_version}, {"cpu_capability", libtorch_cpu_capability}, {"config", libtorch_config}}},
      {"cpu", cpu.to_json()},
      {"blas", blas.to_json()},
      {"kernel_choice", kernel.to_json()},
      {"threads",
       {{"torch_intra_op", threads.torch_intra_op},
        {"torch_inter_op", threads.torch_inter_op},
        {"openmp_max", threads.openmp_max},
        {"openblas", threads.openblas},
        {"environment", env}}},
      {"sgemm", {{"shape", sgemm_shape}, {"gflops", sgemm_gflops}}},
      {"load_average", load_average},
      {"devices", {{"cpu", true}, {"cuda_available", devices.cuda_available}, {"cuda_devices", devices.cuda_devices}}},
      {"problems", problem_list},
      {"notes", notes}};
}

std::string DoctorReport::to_text() const {
  std::string s;
  auto line = [&](const std::string& key, const std::string& value) { s += fmt::format("{:<18}{}\n", key, value); };
  line("arrakis", arrakis_version);
  line("libtorch", fmt::format("{} (its own ops: {} kernels)", libtorch_version,
                               libtorch_cpu_capability.empty() ? "?" : libtorch_cpu_capability));
  line("cpu",
       fmt::format("{} ({}, family {} model {} stepping {}), {} CPUs", cpu.brand.empty() ? cpu.architecture : cpu.brand,
                   cpu.vendor, cpu.family, cpu.model, cpu.stepping, cpu.logical_cpus));
  line("cpu features", fmt::format("{}", fmt::join(cpu.features.names(), " ")));
  line("blas", fmt::format("{} {}{}", to_string(blas.kind), blas.version, blas.path.empty() ? "" : " — " + blas.path));
  if (!blas.config.empty()) line("blas build", blas.config);
  if (blas.kind == BlasKind::OpenBlas) {
    line("kernels", fmt::format("{} — {} [{}]", blas.core, kernel.reason, to_string(kernel.source)));
    for (const auto& m : kernel.measurements)
      line("", m.note.empty()
                   ? fmt::format("  {:<12} {:6.1f} GFLOP/s  (verified, max rel. error {:.1e}){}", m.core, m.gflops,
                                 m.max_relative_error, m.requested.empty() ? "  OpenBLAS' own detection" : "")
                   : fmt::format("  {:<12} {}", m.requested.empty() ? m.core : m.requested, m.note));
  } else {
    line("kernels", kernel.reason);
  }
  std::string env;
  for (const auto& [name, value] : threads.environment) env += fmt::format(" {}={}", name, value);
  line("threads",
       fmt::format("LibTorch {} (inter-op {}), OpenMP {}, OpenBLAS {}{}", threads.torch_intra_op,
                   threads.torch_inter_op, threads.openmp_max, threads.openblas, env.empty() ? "" : ";" + env));
  line("sgemm", fmt::format("{:.1f} GFLOP/s ({}, float32)", sgemm_gflops, sgemm_shape));
  line("load average", fmt::format("{:.2f}", load_average));
  line("devices", devices.cuda_available ? fmt::format("cpu, {} CUDA device(s)", devices.cuda_devices)
                                         : "cpu (this LibTorch has no CUDA, or no GPU is visible)");
  if (problems.empty()) s += "no problems found\n";
  for (const auto& p : problems) s += fmt::format("PROBLEM: {}\n   fix: {}\n", p.problem, p.fix);
  for (const auto& n : notes) s += fmt::format("note: {}\n", n);
  return s;
}

}  // namespace arrakis
