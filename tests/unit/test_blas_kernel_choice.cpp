// The BLAS kernel chooser's decisions on injected CPUs and BLAS reports, its verification step on real matmuls, and
// `arrakis doctor --json`.
#include <torch/version.h>
#include <map>
#include <nlohmann/json.hpp>

#include "arrakis/runtime/blas_kernel_choice.hpp"
#include "arrakis/runtime/doctor.hpp"
#include "test_support.hpp"

namespace arrakis {
namespace {

// A BLAS that never runs: each core's behaviour (can OpenBLAS force it, are its results right, its speed) is given.
class FakeProbe final : public BlasKernelProbe {
 public:
  struct Core {
    bool forcible = true;
    bool correct = true;
    double gflops = 0;
  };
  std::string detected;  // OpenBLAS' own detection
  std::map<std::string, Core> cores;
  std::string current;
  std::vector<std::string> switches;  // every switch_to, in order
  int verifications = 0, measurements = 0;

  std::string switch_to(const std::string& core) override {
    switches.push_back(core);
    auto it = cores.find(core);
    current = core.empty() || it == cores.end() || !it->second.forcible ? detected : core;
    return current;
  }
  SgemmCheck verify() override {
    ++verifications;
    SgemmCheck c;
    c.ok = cores[current].correct;
    c.detail = c.ok ? "" : "entry [0, 0] is wrong";
    return c;
  }
  double measure_gflops(double) override {
    ++measurements;
    return cores[current].gflops;
  }
};

CpuInfo cpu_with(const std::string& vendor, const std::vector<std::string>& features) {
  CpuInfo cpu;
  cpu.architecture = "x86_64";
  cpu.vendor = vendor;
  cpu.features = CpuFeatures::from_names(features);
  cpu.logical_cpus = 2;
  return cpu;
}

const std::vector<std::string> kAvx2 = {"sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma"};
std::vector<std::string> avx512(bool bf16) {
  auto f = kAvx2;
  for (const char* x : {"avx512f", "avx512bw", "avx512dq", "avx512vl"}) f.emplace_back(x);
  if (bf16) f.emplace_back("avx512_bf16");
  return f;
}

BlasLibrary openblas(const std::string& core) {
  BlasLibrary b;
  b.kind = BlasKind::OpenBlas;
  b.core = core;
  b.dynamic_arch = b.can_switch_core = b.openmp = true;
  return b;
}

TEST(BlasKernelChoice, CandidateTableFollowsTheCpuFeatures) {
  EXPECT_EQ(kernel_candidates(cpu_with("GenuineIntel", avx512(true))),
            (std::vector<std::string>{"Cooperlake", "SkylakeX", "Haswell"}));
  EXPECT_EQ(kernel_candidates(cpu_with("GenuineIntel", avx512(false))),
            (std::vector<std::string>{"SkylakeX", "Haswell"}));
  EXPECT_EQ(kernel_candidates(cpu_with("AuthenticAMD", kAvx2)), (std::vector<std::string>{"Haswell", "Zen"}));
  EXPECT_EQ(kernel_candidates(cpu_with("GenuineIntel", {"sse3", "ssse3", "sse4_1", "sse4_2", "avx"})),
            (std::vector<std::string>{"SandyBridge"}));
  std::string missing;
  EXPECT_FALSE(cpu_can_run_core(CpuFeatures::from_names(kAvx2), "SkylakeX", &missing));
  EXPECT_EQ(missing, "avx512f, avx512bw, avx512dq, avx512vl");
  EXPECT_TRUE(cpu_can_run_core(CpuFeatures::from_names(kAvx2), "haswell"));               // case as users type it
  EXPECT_FALSE(cpu_can_run_core(CpuFeatures::from_names(kAvx2), "Bulldozer", &missing));  // no table entry: never run
  EXPECT_TRUE(is_generic_fallback("Prescott", CpuFeatures::from_names(avx512(true))));
  EXPECT_TRUE(is_generic_fallback("SandyBridge", CpuFeatures::from_names(kAvx2)));
  EXPECT_FALSE(is_generic_fallback("Haswell", CpuFeatures::from_names(avx512(true))));
  EXPECT_FALSE(is_generic_fallback("Prescott", CpuFeatures::from_names({"sse3"})));
}

// Intel Xeon with AVX-512 BF16 that OpenBLAS 0.3.21 does not recognise: it falls back to Prescott (SSE3) kernels.
TEST(BlasKernelChoice, UnrecognisedAvx512XeonGetsSkylakeXNotPrescott) {
  FakeProbe probe;
  probe.detected = "Prescott";
  probe.cores = {{"Prescott", {true, true, 36}},
                 {"Cooperlake", {false, true, 0}},  // OpenBLAS 0.3.21 cannot force it by name
                 {"SkylakeX", {true, true, 206}},
                 {"Haswell", {true, true, 150}}};
  auto choice =
      choose_blas_kernel(cpu_with("GenuineIntel", avx512(true)), openblas("Prescott"), {}, std::nullopt, probe);
  EXPECT_EQ(choice.source, KernelChoiceSource::Measured);
  EXPECT_EQ(choice.core, "SkylakeX");
  EXPECT_EQ(probe.current, "SkylakeX");  // actually switched
  ASSERT_EQ(choice.measurements.size(), 4u);
  EXPECT_NE(choice.measurements[1].note.find("cannot be made to use Cooperlake"), std::string::npos);
  EXPECT_DOUBLE_EQ(choice.measurements[2].gflops, 206);
  EXPECT_NE(choice.reason.find("against 36 for OpenBLAS' own choice Prescott"), std::string::npos) << choice.reason;
}

// AMD Zen 5: OpenBLAS detects Cooperlake itself; the machine's OPENBLAS_CORETYPE=Haswell (not the user's: no
// ARRAKIS_KEEP_CORETYPE) is not kept; SkylakeX is within noise of the detection, so OpenBLAS' own choice stays.
TEST(BlasKernelChoice, OwnDetectionKeptWhenNothingIsClearlyFaster) {
  FakeProbe probe;
  probe.detected = "Cooperlake";
  probe.cores = {{"Cooperlake", {false, true, 110}},
                 {"SkylakeX", {true, true, 112}},
                 {"Haswell", {true, true, 60}},
                 {"Zen", {true, true, 61}}};
  BlasKernelEnvironment env;
  env.openblas_coretype = "Haswell";
  auto choice =
      choose_blas_kernel(cpu_with("AuthenticAMD", avx512(true)), openblas("Haswell"), env, std::nullopt, probe);
  EXPECT_EQ(choice.source, KernelChoiceSource::Measured);
  EXPECT_EQ(choice.core_at_start, "Haswell");
  EXPECT_EQ(choice.core, "Cooperlake");
  EXPECT_EQ(choice.requested, "");  // OpenBLAS' own detection
}

TEST(BlasKernelChoice, Avx2OnlyCpuNeverTriesAvx512Kernels) {
  FakeProbe probe;
  probe.detected = "Prescott";
  probe.cores = {{"Prescott", {true, true, 20}}, {"Haswell", {true, true, 90}}, {"Zen", {true, true, 95}}};
  auto choice = choose_blas_kernel(cpu_with("AuthenticAMD", kAvx2), openblas("Prescott"), {}, std::nullopt, probe);
  EXPECT_EQ(choice.core, "Zen");
  for (const auto& s : probe.switches) EXPECT_TRUE(s != "SkylakeX" && s != "Cooperlake") << s;
}

TEST(BlasKernelChoice, WrongResultsDisqualifyTheFastestCandidate) {
  FakeProbe probe;
  probe.detected = "Prescott";
  probe.cores = {{"Prescott", {true, true, 36}}, {"SkylakeX", {true, false, 300}}, {"Haswell", {true, true, 150}}};
  auto choice =
      choose_blas_kernel(cpu_with("GenuineIntel", avx512(false)), openblas("Prescott"), {}, std::nullopt, probe);
  EXPECT_EQ(choice.core, "Haswell");
  EXPECT_FALSE(choice.measurements[1].verified);
  EXPECT_DOUBLE_EQ(choice.measurements[1].gflops, 0);  // never timed
  EXPECT_NE(choice.measurements[1].note.find("wrong results"), std::string::npos);
}

TEST(BlasKernelChoice, ForcedBadChoicesAreRejected) {
  const auto cpu = cpu_with("GenuineIntel", kAvx2);
  FakeProbe probe;
  probe.detected = "Haswell";
  probe.cores = {{"Haswell", {true, true, 100}}, {"SandyBridge", {true, false, 50}}};
  {  // kernels the CPU cannot run: refused before OpenBLAS is even asked (they would raise SIGILL)
    BlasKernelEnvironment env;
    env.override_core = "SkylakeX";
    auto choice = choose_blas_kernel(cpu, openblas("Haswell"), env, std::nullopt, probe);
    ASSERT_EQ(choice.warnings.size(), 1u);
    EXPECT_NE(choice.warnings[0].find("refused: this CPU lacks avx512f"), std::string::npos) << choice.warnings[0];
    EXPECT_EQ(choice.source, KernelChoiceSource::Measured);
    EXPECT_EQ(choice.core, "Haswell");
    for (const auto& s : probe.switches) EXPECT_NE(s, "SkylakeX");
  }
  {  // kernels whose results are wrong: rejected by the verification step
    BlasKernelEnvironment env;
    env.override_core = "sandybridge";
    auto choice = choose_blas_kernel(cpu, openblas("Haswell"), env, std::nullopt, probe);
    ASSERT_EQ(choice.warnings.size(), 1u);
    EXPECT_NE(choice.warnings[0].find("SandyBridge refused: its results are wrong"), std::string::npos)
        << choice.warnings[0];
    EXPECT_EQ(choice.core, "Haswell");
  }
  {  // a name OpenBLAS has no kernels for
    BlasKernelEnvironment env;
    env.override_core = "Pentium";
    auto choice = choose_blas_kernel(cpu, openblas("Haswell"), env, std::nullopt, probe);
    ASSERT_EQ(choice.warnings.size(), 1u);
    EXPECT_NE(choice.warnings[0].find("is not an OpenBLAS core"), std::string::npos);
  }
}

TEST(BlasKernelChoice, UserChoicesWin) {
  const auto cpu = cpu_with("GenuineIntel", avx512(false));
  FakeProbe probe;
  probe.detected = "SkylakeX";
  probe.cores = {{"SkylakeX", {true, true, 200}}, {"Haswell", {true, true, 120}}};
  {
    BlasKernelEnvironment env;
    env.override_core = "Haswell";  // slower, but asked for and correct
    auto choice = choose_blas_kernel(cpu, openblas("SkylakeX"), env, std::nullopt, probe);
    EXPECT_EQ(choice.source, KernelChoiceSource::UserOverride);
    EXPECT_EQ(choice.core, "Haswell");
    EXPECT_EQ(probe.measurements, 0);
  }
  {
    BlasKernelEnvironment env;
    env.openblas_coretype = "Haswell";
    env.keep_coretype = true;
    FakeProbe untouched;
    auto choice = choose_blas_kernel(cpu, openblas("Haswell"), env, std::nullopt, untouched);
    EXPECT_EQ(choice.source, KernelChoiceSource::UserOpenBlasCoretype);
    EXPECT_EQ(choice.core, "Haswell");
    EXPECT_TRUE(untouched.switches.empty());
  }
}

TEST(BlasKernelChoice, CachedDecisionCostsNoMeasurementAndStaleOnesAreRemeasured) {
  const auto cpu = cpu_with("GenuineIntel", avx512(false));
  FakeProbe probe;
  probe.detected = "Prescott";
  probe.cores = {{"Prescott", {true, true, 36}}, {"SkylakeX", {true, true, 200}}, {"Haswell", {true, true, 120}}};
  auto choice = choose_blas_kernel(cpu, openblas("Prescott"), {}, CachedKernel{"SkylakeX", "SkylakeX"}, probe);
  EXPECT_EQ(choice.source, KernelChoiceSource::Cache);
  EXPECT_EQ(choice.core, "SkylakeX");
  EXPECT_EQ(probe.measurements, 0);
  EXPECT_EQ(probe.verifications, 0);
  // A cache entry this BLAS no longer honours (the request now gives another core) is measured again.
  auto stale = choose_blas_kernel(cpu, openblas("Prescott"), {}, CachedKernel{"Cooperlake", "Cooperlake"}, probe);
  EXPECT_EQ(stale.source, KernelChoiceSource::Measured);
  EXPECT_EQ(stale.core, "SkylakeX");
}

TEST(BlasKernelChoice, OtherBlasLibrariesAreLeftAlone) {
  FakeProbe probe;
  BlasLibrary mkl;
  mkl.kind = BlasKind::Mkl;
  auto choice = choose_blas_kernel(cpu_with("GenuineIntel", avx512(true)), mkl, {}, std::nullopt, probe);
  EXPECT_EQ(choice.source, KernelChoiceSource::NotOpenBlas);
  EXPECT_NE(choice.reason.find("Intel MKL"), std::string::npos);
  EXPECT_TRUE(probe.switches.empty());
  auto fixed = openblas("Haswell");
  fixed.dynamic_arch = fixed.can_switch_core = false;
  EXPECT_EQ(choose_blas_kernel(cpu_with("GenuineIntel", avx512(true)), fixed, {}, std::nullopt, probe).source,
            KernelChoiceSource::NotSwitchable);
  EXPECT_TRUE(probe.switches.empty());
}

// The verification step itself, on real products: LibTorch's mm passes; a product computed in bfloat16 precision,
// or wrong in one entry, does not.
TEST(BlasKernelChoice, VerificationAcceptsCorrectProductsAndRejectsWrongOnes) {
  auto good = verify_sgemm([](const torch::Tensor& a, const torch::Tensor& b) { return torch::mm(a, b); });
  EXPECT_TRUE(good.ok) << good.detail;
  EXPECT_LT(good.max_relative_error, good.tolerance);
  auto bf16 = verify_sgemm([](const torch::Tensor& a, const torch::Tensor& b) {
    return torch::mm(a.to(torch::kBFloat16).to(torch::kFloat32), b.to(torch::kBFloat16).to(torch::kFloat32));
  });
  EXPECT_FALSE(bf16.ok);
  auto one_wrong = verify_sgemm([](const torch::Tensor& a, const torch::Tensor& b) {
    auto c = torch::mm(a, b);
    c[3][5] += 0.01;
    return c;
  });
  EXPECT_FALSE(one_wrong.ok);
  EXPECT_NE(one_wrong.detail.find("entry [3, 5]"), std::string::npos) << one_wrong.detail;
}

TEST(BlasKernelChoice, ThisProcessChoseVerifiedKernels) {
  const auto& choice = select_blas_kernel();
  auto blas = detect_blas_library();
  if (blas.kind != BlasKind::OpenBlas) GTEST_SKIP() << "the BLAS here is " << to_string(blas.kind);
  EXPECT_EQ(blas.core, choice.core);
  EXPECT_FALSE(is_generic_fallback(blas.core, read_cpu_info().features)) << choice.to_json().dump(2);
  EXPECT_TRUE(choice.warnings.empty()) << choice.to_json().dump(2);
}

TEST(Doctor, JsonHasEveryField) {
  auto result = test::run_cli("doctor --json", /*merge_stderr=*/false);
  ASSERT_EQ(result.status, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  for (const char* key : {"arrakis_version", "libtorch", "cpu", "blas", "kernel_choice", "threads", "sgemm", "devices",
                          "problems", "notes"})
    EXPECT_TRUE(json.contains(key)) << key;
  EXPECT_EQ(json["libtorch"]["version"].get<std::string>().substr(0, 1), std::to_string(TORCH_VERSION_MAJOR));
  EXPECT_FALSE(json["libtorch"]["config"].get<std::string>().empty());
  EXPECT_FALSE(json["cpu"]["vendor"].get<std::string>().empty());
  EXPECT_TRUE(json["cpu"]["features"].is_array());
  EXPECT_GT(json["cpu"]["logical_cpus"].get<int>(), 0);
  EXPECT_FALSE(json["blas"]["kind"].get<std::string>().empty());
  EXPECT_TRUE(json["kernel_choice"].contains("reason"));
  EXPECT_TRUE(json["kernel_choice"].contains("source"));
  for (const char* key : {"torch_intra_op", "torch_inter_op", "openmp_max", "openblas", "environment"})
    EXPECT_TRUE(json["threads"].contains(key)) << key;
  EXPECT_GT(json["threads"]["torch_intra_op"].get<int>(), 0);
  EXPECT_GT(json["sgemm"]["gflops"].get<double>(), 0);
  EXPECT_TRUE(json["devices"].contains("cuda_available"));
  for (const auto& p : json["problems"]) {
    EXPECT_TRUE(p.contains("problem"));
    EXPECT_TRUE(p.contains("fix"));
  }
}

}  // namespace
}  // namespace arrakis
