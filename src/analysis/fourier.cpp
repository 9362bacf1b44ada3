#include "arrakis/analysis/fourier.hpp"

#include <fmt/format.h>

#include <cmath>

#include "arrakis/error.hpp"

namespace arrakis {

FourierBasis fourier_basis(int64_t p) {
  if (p < 2) throw Error(fmt::format("fourier_basis: p must be at least 2, got {}", p));
  FourierBasis f;
  auto x = torch::arange(p, torch::kFloat64);
  std::vector<torch::Tensor> rows;
  auto add = [&](torch::Tensor row, std::string label, int64_t k) {
    rows.push_back(row / row.norm());
    f.labels.push_back(std::move(label));
    f.frequency.push_back(k);
  };
  add(torch::ones({p}, torch::kFloat64), "const", 0);
  for (int64_t k = 1; 2 * k < p; ++k) {
    auto angle = x * (2 * M_PI * static_cast<double>(k) / static_cast<double>(p));
    add(angle.cos(), fmt::format("cos {}", k), k);
    add(angle.sin(), fmt::format("sin {}", k), k);
  }
  if (p % 2 == 0) add((x * M_PI).cos(), fmt::format("cos {}", p / 2), p / 2);
  f.basis = torch::stack(rows);
  return f;
}

torch::Tensor fourier_frequency_norms(const torch::Tensor& W) {
  if (W.dim() != 2) throw Error("fourier_frequency_norms: W must be [p, d]");
  const int64_t p = W.size(0);
  auto f = fourier_basis(p);
  auto energy = torch::matmul(f.basis, W.to(torch::kFloat64)).pow(2).sum(-1);  // [p] per basis row
  auto index = torch::tensor(f.frequency, torch::kInt64);
  auto per_frequency = torch::zeros({p / 2 + 1}, torch::kFloat64).index_add_(0, index, energy);
  return per_frequency.sqrt();
}

}  // namespace arrakis
