#pragma once
// `arrakis demo`: runs the embedded model and reports what it predicts and what it caches.
#include <cstdint>
#include <ostream>

namespace arrakis {

struct DemoOptions {
  uint64_t seed = 2026;   // the random sequences shown
  int64_t batch = 16;
};

/// Writes the report to `out`. Throws arrakis::Error when the build has no embedded model.
void run_demo(std::ostream& out, const DemoOptions& options = {});

}  // namespace arrakis
