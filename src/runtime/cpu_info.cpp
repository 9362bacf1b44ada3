#include "arrakis/runtime/cpu_info.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>
#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>

#include "arrakis/error.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ARRAKIS_X86 1
#endif

namespace arrakis {
namespace {

// Each feature once: its name and where it lives in the struct.
struct FeatureField {
  const char* name;
  bool CpuFeatures::*field;
};
constexpr std::array<FeatureField, 17> kFeatureFields{{
    {"sse3", &CpuFeatures::sse3},
    {"ssse3", &CpuFeatures::ssse3},
    {"sse4_1", &CpuFeatures::sse4_1},
    {"sse4_2", &CpuFeatures::sse4_2},
    {"avx", &CpuFeatures::avx},
    {"avx2", &CpuFeatures::avx2},
    {"fma", &CpuFeatures::fma},
    {"f16c", &CpuFeatures::f16c},
    {"avx512f", &CpuFeatures::avx512f},
    {"avx512bw", &CpuFeatures::avx512bw},
    {"avx512dq", &CpuFeatures::avx512dq},
    {"avx512vl", &CpuFeatures::avx512vl},
    {"avx512cd", &CpuFeatures::avx512cd},
    {"avx512_vnni", &CpuFeatures::avx512_vnni},
    {"avx512_bf16", &CpuFeatures::avx512_bf16},
    {"avx512_fp16", &CpuFeatures::avx512_fp16},
    {"amx_bf16", &CpuFeatures::amx_bf16},
}};

int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

#ifdef ARRAKIS_X86
struct Regs {
  unsigned a = 0, b = 0, c = 0, d = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.a, &r.b, &r.c, &r.d)) return {};
  return r;
}

bool bit(unsigned value, int n) { return (value >> n) & 1u; }

// XCR0: which register files the OS saves on a context switch. A CPU with AVX-512 under an OS that does not save
// ZMM state cannot use it.
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

void read_x86(CpuInfo& info) {
  info.architecture = "x86_64";
  const Regs leaf0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor, &leaf0.b, 4);
  std::memcpy(vendor + 4, &leaf0.d, 4);
  std::memcpy(vendor + 8, &leaf0.c, 4);
  info.vendor = vendor;

  const Regs leaf1 = cpuid(1);
  const unsigned base_family = (leaf1.a >> 8) & 0xf, base_model = (leaf1.a >> 4) & 0xf;
  const unsigned ext_family = (leaf1.a >> 20) & 0xff, ext_model = (leaf1.a >> 16) & 0xf;
  info.family = static_cast<int>(base_family == 0xf ? base_family + ext_family : base_family);
  info.model =
      static_cast<int>((base_family == 0x6 || base_family == 0xf) ? (ext_model << 4) + base_model : base_model);
  info.stepping = static_cast<int>(leaf1.a & 0xf);

  if (cpuid(0x80000000).a >= 0x80000004) {
    std::array<char, 49> brand{};
    for (unsigned i = 0; i < 3; ++i) {
      Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand.data() + 16 * i, &r, 16);
    }
    std::string text = brand.data();
    auto first = text.find_first_not_of(' ');
    auto last = text.find_last_not_of(' ');
    info.brand = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  }

  auto& f = info.features;
  f.sse3 = bit(leaf1.c, 0);
  f.ssse3 = bit(leaf1.c, 9);
  f.sse4_1 = bit(leaf1.c, 19);
  f.sse4_2 = bit(leaf1.c, 20);
  const bool osxsave = bit(leaf1.c, 27);
  const uint64_t xcr = osxsave ? xcr0() : 0;
  const bool os_ymm = (xcr & 0x6) == 0x6;              // SSE and AVX state
  const bool os_zmm = os_ymm && (xcr & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr & 0x60000) == 0x60000;      // XTILECFG, XTILEDATA
  f.avx = os_ymm && bit(leaf1.c, 28);
  f.fma = f.avx && bit(leaf1.c, 12);
  f.f16c = f.avx && bit(leaf1.c, 29);
  if (leaf0.a >= 7) {
    const Regs leaf7 = cpuid(7, 0);
    f.avx2 = f.avx && bit(leaf7.b, 5);
    f.avx512f = os_zmm && bit(leaf7.b, 16);
    f.avx512dq = f.avx512f && bit(leaf7.b, 17);
    f.avx512cd = f.avx512f && bit(leaf7.b, 28);
    f.avx512bw = f.avx512f && bit(leaf7.b, 30);
    f.avx512vl = f.avx512f && bit(leaf7.b, 31);
    f.avx512_vnni = f.avx512f && bit(leaf7.c, 11);
    f.avx512_fp16 = f.avx512f && bit(leaf7.d, 23);
    f.amx_bf16 = os_amx && bit(leaf7.d, 22);
    if (leaf7.a >= 1) f.avx512_bf16 = f.avx512f && bit(cpuid(7, 1).a, 5);
  }
}
#endif

}  // namespace

std::vector<std::string> CpuFeatures::names() const {
  std::vector<std::string> out;
  for (const auto& [name, field] : kFeatureFields)
    if (this->*field) out.emplace_back(name);
  return out;
}

CpuFeatures CpuFeatures::from_names(const std::vector<std::string>& names) {
  CpuFeatures f;
  for (const auto& name : names) {
    auto it = std::find_if(kFeatureFields.begin(), kFeatureFields.end(),
                           [&](const FeatureField& field) { return name == field.name; });
    if (it == kFeatureFields.end()) throw Error(fmt::format("unknown CPU feature '{}'", name));
    f.*(it->field) = true;
  }
  return f;
}

std::string CpuInfo::identity() const {
  return fmt::format("{} {} family {} model {} stepping {} [{}]", architecture, vendor, family, model, stepping,
                     fmt::join(features.names(), " "));
}

nlohmann::json CpuInfo::to_json() const {
  return {{"architecture", architecture},
          {"vendor", vendor},
          {"model_name", brand},
          {"family", family},
          {"model", model},
          {"stepping", stepping},
          {"logical_cpus", logical_cpus},
          {"features", features.names()}};
}

CpuInfo read_cpu_info() {
  CpuInfo info;
#ifdef ARRAKIS_X86
  read_x86(info);
#else
  struct utsname name {};
  if (uname(&name) == 0) info.architecture = name.machine;
#endif
  info.logical_cpus = usable_cpus();
  return info;
}

}  // namespace arrakis
