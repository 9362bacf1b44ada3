#pragma once
// `arrakis demo`: runs the embedded model and reports what it predicts, which heads do it (attention scores and, from
// the weights alone, K-composition and OV copying), what an ablation of the strongest induction head costs (with a
// hypothesis test), which residual-stream positions carry the answer (activation patching), where the forward spends
// its time, and what it caches. Each analysis is logged as an experiment in `save_dir` (see docs/experiments.md):
// running the demo twice gives one version per analysis with two runs each. The figures go to
// `save_dir/demo-report.html` (self-contained: open it in a browser).
#include <torch/types.h>
#include <cstdint>

#include <filesystem>
#include <ostream>

namespace arrakis {

struct DemoOptions {
  uint64_t seed = 2026;  // the random sequences shown
  int64_t batch = 16;
  std::filesystem::path save_dir = "experiments";  // where the analyses are logged
  torch::Dtype dtype = torch::kFloat32;            // the embedded model is moved to this dtype and device
  torch::Device device = torch::kCPU;
};

/// Writes the report to `out`. Throws arrakis::Error when the build has no embedded model, or when save_dir holds
/// a file that is not an experiment database.
void run_demo(std::ostream& out, const DemoOptions& options = {});

}  // namespace arrakis
