#include "arrakis/analysis/factored_matrix.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "arrakis/error.hpp"

namespace arrakis {
namespace {

std::vector<int64_t> leading(const torch::Tensor& t) {
  auto s = t.sizes().vec();
  s.resize(s.size() - 2);
  return s;
}

}  // namespace

FactoredMatrix::FactoredMatrix(torch::Tensor A, torch::Tensor B) : A_(std::move(A)), B_(std::move(B)) {
  if (A_.dim() < 2 || B_.dim() < 2)
    throw Error(fmt::format("FactoredMatrix: A and B must be matrices (or batches of them), got {} and {} dimensions",
                            A_.dim(), B_.dim()));
  if (A_.size(-1) != B_.size(-2))
    throw Error(
        fmt::format("FactoredMatrix: A [{}] and B [{}] do not chain (A's last dimension must be B's second "
                    "to last)",
                    fmt::join(A_.sizes(), ", "), fmt::join(B_.sizes(), ", ")));
  if (A_.scalar_type() != B_.scalar_type()) B_ = B_.to(A_.scalar_type());
  batch_shape();  // checks that the leading dimensions broadcast
}

std::vector<int64_t> FactoredMatrix::batch_shape() const {
  try {
    return at::infer_size(leading(A_), leading(B_));
  } catch (const c10::Error&) {
    throw Error(fmt::format("FactoredMatrix: leading dimensions [{}] and [{}] do not broadcast",
                            fmt::join(leading(A_), ", "), fmt::join(leading(B_), ", ")));
  }
}

FactoredMatrix FactoredMatrix::matmul(const torch::Tensor& M) const {
  if (M.dim() < 2 || M.size(-2) != rdim())
    throw Error(fmt::format("FactoredMatrix [.., {}, {}] @ a tensor of shape [{}]: need [.., {}, k]", ldim(), rdim(),
                            fmt::join(M.sizes(), ", "), rdim()));
  auto m = M.to(A_.scalar_type());
  if (mdim() <= rdim()) return {A_, torch::matmul(B_, m)};
  return {AB(), m};
}

FactoredMatrix FactoredMatrix::rmatmul(const torch::Tensor& M) const {
  if (M.dim() < 2 || M.size(-1) != ldim())
    throw Error(fmt::format("a tensor of shape [{}] @ FactoredMatrix [.., {}, {}]: need [.., k, {}]",
                            fmt::join(M.sizes(), ", "), ldim(), rdim(), ldim()));
  auto m = M.to(A_.scalar_type());
  if (mdim() <= ldim()) return {torch::matmul(m, A_), B_};
  return {m, AB()};
}

FactoredMatrix FactoredMatrix::matmul(const FactoredMatrix& other) const {
  if (other.ldim() != rdim())
    throw Error(fmt::format("FactoredMatrix [.., {}, {}] @ FactoredMatrix [.., {}, {}]: inner dimensions differ",
                            ldim(), rdim(), other.ldim(), other.rdim()));
  return matmul(other.A_).matmul(other.B_);
}

FactoredMatrix FactoredMatrix::transpose() const { return {B_.transpose(-2, -1), A_.transpose(-2, -1)}; }

FactoredMatrix FactoredMatrix::select(int64_t dim, int64_t index) const {
  const auto batch = batch_shape();
  const auto n = static_cast<int64_t>(batch.size());
  if (dim < 0) dim += n;
  if (dim < 0 || dim >= n) throw Error(fmt::format("FactoredMatrix::select: no batch dimension {}", dim));
  auto pick = [&](const torch::Tensor& t) {
    // Dimensions align from the right (broadcasting): t's dimension for `dim` may be missing or of size 1.
    int64_t d = dim - (n - (t.dim() - 2));
    if (d < 0) return t;
    return t.size(d) == 1 ? t.select(d, 0) : t.select(d, index);
  };
  return {pick(A_), pick(B_)};
}

FactoredMatrix FactoredMatrix::unsqueeze(int64_t dim) const {
  const auto n = static_cast<int64_t>(batch_shape().size());
  if (dim < 0 || dim > n) throw Error(fmt::format("FactoredMatrix::unsqueeze: no batch position {}", dim));
  auto expand = [&](const torch::Tensor& t) {
    auto full = t.reshape([&] {  // give both factors all n leading dimensions first
      auto s = t.sizes().vec();
      s.insert(s.begin(), n - (t.dim() - 2), 1);
      return s;
    }());
    return full.unsqueeze(dim);
  };
  return {expand(A_), expand(B_)};
}

torch::Tensor FactoredMatrix::AB() const { return torch::matmul(A_, B_); }

torch::Tensor FactoredMatrix::BA() const {
  if (ldim() != rdim())
    throw Error(fmt::format("FactoredMatrix::BA needs a square product, this one is {} x {}", ldim(), rdim()));
  return torch::matmul(B_, A_);
}

FactoredMatrix::Svd FactoredMatrix::svd() const {
  auto [Ua, Sa, Vha] = torch::linalg_svd(A_, /*full_matrices=*/false);
  auto [Ub, Sb, Vhb] = torch::linalg_svd(B_, /*full_matrices=*/false);
  auto core = Sa.unsqueeze(-1) * torch::matmul(Vha, Ub) * Sb.unsqueeze(-2);
  auto [Um, Sm, Vhm] = torch::linalg_svd(core, /*full_matrices=*/false);
  return {torch::matmul(Ua, Um), Sm, torch::matmul(Vhm, Vhb)};
}

torch::Tensor FactoredMatrix::eigenvalues() const {
  auto ba = BA();
  auto precise = ba.scalar_type() == torch::kFloat64 ? ba : ba.to(torch::kFloat32);
  return torch::linalg_eigvals(precise);
}

torch::Tensor FactoredMatrix::norm() const {
  auto a = A_.to(torch::kFloat64), b = B_.to(torch::kFloat64);
  auto gram_a = torch::matmul(a.transpose(-2, -1), a);  // [..., r, r]
  auto gram_b = torch::matmul(b, b.transpose(-2, -1));  // [..., r, r]
  auto squared = (gram_a * gram_b).sum({-2, -1}).clamp_min(0);
  return squared.sqrt().to(A_.scalar_type());
}

torch::Tensor FactoredMatrix::get_corner(int64_t k) const {
  using torch::indexing::Slice;
  auto a = A_.index({"...", Slice(0, std::min(k, ldim())), Slice()});
  auto b = B_.index({"...", Slice(), Slice(0, std::min(k, rdim()))});
  return torch::matmul(a, b);
}

}  // namespace arrakis
