#pragma once
// oneDNN primitives on strided float32 views of LibTorch tensors, for the forward's steps where LibTorch 1.13 and
// OpenBLAS are slow: the attention's small per-head products, projections of few rows or with a bias (fused), the
// attention softmax (5x LibTorch's on masked rows) and the MLP activations (2x). oneDNN is the library LibTorch itself
// uses for this on CPUs (Debian's libdnnl-dev; optional at build time).
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace arrakis {

/// A tensor's data seen with logical dims and strides of oneDNN's choosing (up to 12 dims, batch dims first).
struct MatmulView {
  const torch::Tensor& tensor;
  std::vector<int64_t> shape, strides;
};

/// True when oneDNN is compiled in, not switched off (ARRAKIS_ONEDNN=0), and these operands suit it: float32 on the
/// CPU, no autograd graph to record, nothing empty.
bool onednn_suits(const torch::Tensor& a, const torch::Tensor& b);

/// dst = src · weights (+ bias, broadcast), batch dims broadcast where one operand has 1. Call only where
/// onednn_suits said yes.
void onednn_matmul(const MatmulView& src, const MatmulView& weights, const MatmulView* bias, const MatmulView& dst);

/// Softmax over the last dim of a float32 tensor, into a new contiguous one (call where onednn_suits(x, x)).
torch::Tensor onednn_softmax_last_dim(const torch::Tensor& x);

enum class EltwiseKind { GeluTanh, GeluErf, Silu, Relu };
/// An activation of a float32 tensor, into a new contiguous one (call where onednn_suits(x, x)).
torch::Tensor onednn_eltwise(EltwiseKind kind, const torch::Tensor& x);

/// Whether oneDNN is compiled in and enabled (for `arrakis doctor`).
bool onednn_enabled();

}  // namespace arrakis
