#pragma once
// What the processor is and which vector instructions it (and the operating system) can run: the facts the BLAS
// kernel choice and `arrakis doctor` rest on.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace arrakis {

/// Instruction-set extensions, each true only when the CPU has it and the OS saves its registers (XCR0).
struct CpuFeatures {
  bool sse3 = false, ssse3 = false, sse4_1 = false, sse4_2 = false;
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512cd = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_bf16 = false;

  /// AVX-512 F, BW, DQ and VL together: what OpenBLAS' SkylakeX kernels need.
  bool avx512_skylake() const { return avx512f && avx512bw && avx512dq && avx512vl; }
  /// The names of the features present, in the order above ("avx2", "avx512_bf16", ...).
  std::vector<std::string> names() const;
  /// Features from names as names() writes them; unknown names are an arrakis::Error naming them.
  static CpuFeatures from_names(const std::vector<std::string>& names);
};

struct CpuInfo {
  std::string architecture;                 // "x86_64", "aarch64", ...
  std::string vendor;                       // "GenuineIntel", "AuthenticAMD" (x86 only)
  std::string brand;                        // "AMD EPYC 9R45", "Intel(R) Xeon(R) Platinum 8488C" (x86 only)
  int family = 0, model = 0, stepping = 0;  // display family and model, as lscpu prints them
  int logical_cpus = 0;                     // usable by this process (its affinity mask)
  CpuFeatures features;

  bool is_amd() const { return vendor == "AuthenticAMD" || vendor == "HygonGenuine"; }
  bool is_intel() const { return vendor == "GenuineIntel"; }
  /// One line identifying the CPU model, used as a cache key for decisions that depend on it.
  std::string identity() const;
  nlohmann::json to_json() const;
};

/// This machine's CPU, read with CPUID (x86-64) or from the OS elsewhere.
CpuInfo read_cpu_info();

}  // namespace arrakis
