#pragma once
// x @ W + b for the forward's projections.
#include <torch/types.h>

namespace arrakis {

/// rows [n, in] @ W [in, out] (+ b [out] when defined), W and b in any strides. Float32 on the CPU with few rows runs
/// on oneDNN (its kernels reach full speed from tens of rows; OpenBLAS needs hundreds: 360 against 234 GFLOP/s at
/// 48 x 768 x 3072 measured on an AVX-512 machine), with the bias fused; otherwise on LibTorch's addmm / mm
/// (OpenBLAS; with its current kernels the bias costs addmm nothing, where mm + add_ pays a pass over the output).
torch::Tensor linear(const torch::Tensor& rows, const torch::Tensor& W, const torch::Tensor& b);

}  // namespace arrakis
