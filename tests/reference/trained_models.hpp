#pragma once
// The trained checkpoints in ../shared that several reference tests load.
#include "arrakis/model/loading.hpp"
#include "test_support.hpp"

namespace arrakis::test {

/// The two-layer attention-only induction model (../shared/models/tl/induction-2l).
inline HookedTransformer induction_model() { return load_pretrained(shared_dir() / "models/tl/induction-2l"); }

}  // namespace arrakis::test
