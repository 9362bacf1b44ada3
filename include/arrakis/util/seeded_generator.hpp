#pragma once
// A LibTorch random generator of its own, seeded: reproducible draws that leave LibTorch's global generator (the
// user's) untouched. The one place Arrakis reaches for LibTorch's internal constructor.
#include <torch/types.h>

#include <cstdint>

namespace arrakis {

inline torch::Generator seeded_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

}  // namespace arrakis
