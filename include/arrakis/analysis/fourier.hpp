#pragma once
// The Fourier basis over Z_p (cosines and sines of x -> 2πkx/p, orthonormal), in which the modular-addition model
// of "Progress measures for grokking" does its arithmetic: its embedding lives on a few key frequencies.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace arrakis {

struct FourierBasis {
  torch::Tensor basis;              // [p, p] float64, one orthonormal basis vector per row
  std::vector<std::string> labels;  // "const", "cos 1", "sin 1", "cos 2", ... (and "cos p/2" for even p)
  std::vector<int64_t> frequency;   // the frequency of each row (0 for the constant)
};

/// Row 0 is the constant 1/sqrt(p); then for k = 1..floor((p-1)/2) the rows cos(2πkx/p) and sin(2πkx/p), scaled to
/// unit norm; for even p a last row cos(πx) / sqrt(p).
FourierBasis fourier_basis(int64_t p);

/// The norm of W [p, d] (e.g. an embedding's rows for 0..p-1) on each frequency: sqrt(Σ over that frequency's basis
/// rows and every column of (basis W)²) — [floor(p/2) + 1], index k = frequency k (0 = the constant). The squares sum
/// to ||W||_F² (the basis is orthonormal).
torch::Tensor fourier_frequency_norms(const torch::Tensor& W);

}  // namespace arrakis
