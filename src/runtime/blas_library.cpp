#include "arrakis/runtime/blas_library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

// Symbols are looked up in the whole process rather than linked: the BLAS may be any library, or none with these.
template <class Fn>
Fn* symbol(const char* name) {
  return reinterpret_cast<Fn*>(::dlsym(RTLD_DEFAULT, name));
}

std::string defining_file(void* address) {
  Dl_info info{};
  if (!address || !::dladdr(address, &info) || !info.dli_fname) return {};
  std::error_code ec;
  auto real = std::filesystem::canonical(info.dli_fname, ec);
  return ec ? std::string(info.dli_fname) : real.string();
}

std::string first_match(const std::string& text, const char* pattern) {
  std::smatch m;
  std::regex re(pattern);
  return std::regex_search(text, m, re) ? m[1].str() : std::string();
}

}  // namespace

const char* to_string(BlasKind kind) {
  switch (kind) {
    case BlasKind::OpenBlas: return "OpenBLAS";
    case BlasKind::Mkl: return "Intel MKL";
    case BlasKind::Blis: return "BLIS";
    case BlasKind::Reference: return "reference BLAS (netlib)";
    case BlasKind::Unknown: break;
  }
  return "unknown";
}

const std::vector<std::string>& openblas_x86_core_names() {
  static const std::vector<std::string> names = {
      "Katmai",    "Coppermine",  "Northwood", "Prescott",  "Banias",     "Atom",         "Core2",
      "Penryn",    "Dunnington",  "Nehalem",   "Athlon",    "Opteron",    "Opteron_SSE3", "Barcelona",
      "Nano",      "SandyBridge", "Bobcat",    "Bulldozer", "Piledriver", "Haswell",      "Steamroller",
      "Excavator", "Zen",         "SkylakeX",  "Cooperlake"};
  return names;
}

std::string openblas_current_core() {
  auto* corename = symbol<char*()>("openblas_get_corename");
  if (!corename) return {};
  const char* name = corename();
  return name ? name : "";
}

std::string openblas_switch_core(const std::string& core) {
  auto* quit = symbol<void()>("gotoblas_dynamic_quit");
  auto* init = symbol<void()>("gotoblas_dynamic_init");
  if (!quit || !init)
    throw Error("this BLAS cannot change its kernels at run time (not an OpenBLAS DYNAMIC_ARCH build)");
  // OpenBLAS' own initialisation reads OPENBLAS_CORETYPE: set it for the call, then restore what the user had.
  std::optional<std::string> saved;
  if (const char* value = std::getenv("OPENBLAS_CORETYPE")) saved = value;
  if (core.empty())
    ::unsetenv("OPENBLAS_CORETYPE");
  else
    ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  quit();
  init();
  if (saved)
    ::setenv("OPENBLAS_CORETYPE", saved->c_str(), 1);
  else
    ::unsetenv("OPENBLAS_CORETYPE");
  return openblas_current_core();
}

BlasLibrary detect_blas_library() {
  BlasLibrary lib;
  void* sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_");
  lib.path = defining_file(sgemm);
  if (auto* config = symbol<char*()>("openblas_get_config")) {
    lib.kind = BlasKind::OpenBlas;
    lib.config = config() ? config() : "";
    lib.version = first_match(lib.config, R"(OpenBLAS\s+([0-9][0-9.]*))");
    lib.core = openblas_current_core();
    lib.dynamic_arch = lib.config.find("DYNAMIC_ARCH") != std::string::npos;
    lib.can_switch_core =
        lib.dynamic_arch && symbol<void()>("gotoblas_dynamic_init") && symbol<void()>("gotoblas_dynamic_quit");
    lib.openmp = lib.config.find("USE_OPENMP") != std::string::npos;
    if (auto* threads = symbol<int()>("openblas_get_num_threads")) lib.threads = threads();
  } else if (auto* mkl = symbol<void(char*, int)>("MKL_Get_Version_String")) {
    lib.kind = BlasKind::Mkl;
    char buffer[256] = {};
    mkl(buffer, sizeof(buffer) - 1);
    lib.version = buffer;
  } else if (auto* blis = symbol<const char*()>("bli_info_get_version_str")) {
    lib.kind = BlasKind::Blis;
    lib.version = blis() ? blis() : "";
  } else if (sgemm && lib.path.find("/blas/libblas") != std::string::npos) {
    lib.kind = BlasKind::Reference;  // Debian's netlib BLAS lives in .../blas/libblas.so.3
  } else {
    // No exported BLAS: LibTorch may carry one inside (pip wheels link MKL statically). Its build says which.
    const std::string info = first_match(at::show_config(), R"(BLAS_INFO=([A-Za-z0-9_]+))");
    if (info == "mkl")
      lib.kind = BlasKind::Mkl;
    else if (info == "open")
      lib.kind = BlasKind::OpenBlas;  // linked in, without its controls exported
    else if (info == "blis" || info == "flame")
      lib.kind = BlasKind::Blis;
    if (!info.empty()) lib.config = "LibTorch BLAS_INFO=" + info + " (linked into LibTorch)";
  }
  return lib;
}

nlohmann::json BlasLibrary::to_json() const {
  return {{"kind", to_string(kind)},
          {"path", path},
          {"version", version},
          {"config", config},
          {"core", core},
          {"dynamic_arch", dynamic_arch},
          {"can_switch_core", can_switch_core},
          {"openmp", openmp},
          {"threads", threads}};
}

}  // namespace arrakis
