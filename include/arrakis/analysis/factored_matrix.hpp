#pragma once
// FactoredMatrix: a product A B (A [..., m, r], B [..., r, n]) kept as its two factors, as TransformerLens'
// FactoredMatrix. A head's OV (W_V W_O) and QK (W_Q W_K^T) circuits are d_model x d_model matrices of rank d_head;
// keeping them factored makes products, norms, singular values and eigenvalues cost r x r work instead of
// d_model x d_model (or d_vocab x d_vocab for the full W_E·OV·W_U circuit).
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace arrakis {

class FactoredMatrix {
 public:
  /// A [..., m, r], B [..., r, n] with broadcastable leading (batch) dimensions, e.g. [layers, heads].
  FactoredMatrix(torch::Tensor A, torch::Tensor B);

  const torch::Tensor& A() const { return A_; }
  const torch::Tensor& B() const { return B_; }
  int64_t ldim() const { return A_.size(-2); }  // m: rows of AB
  int64_t rdim() const { return B_.size(-1); }  // n: columns of AB
  int64_t mdim() const { return A_.size(-1); }  // r: the inner dimension (an upper bound on the rank)
  /// The broadcast leading dimensions of A and B.
  std::vector<int64_t> batch_shape() const;

  /// (AB) M for M [..., n, k], kept factored (the inner dimension stays min(r, n)).
  FactoredMatrix matmul(const torch::Tensor& M) const;
  /// M (AB) for M [..., k, m].
  FactoredMatrix rmatmul(const torch::Tensor& M) const;
  /// (AB)(CD), factored through the smaller inner dimension.
  FactoredMatrix matmul(const FactoredMatrix& other) const;
  /// (AB)^T = B^T A^T.
  FactoredMatrix transpose() const;
  /// One index of a leading dimension (e.g. one layer), keeping the rest.
  FactoredMatrix select(int64_t dim, int64_t index) const;
  /// A new leading dimension of size 1 at `dim` (of the batch dimensions), for broadcasting.
  FactoredMatrix unsqueeze(int64_t dim) const;

  /// The product, materialised: [..., m, n].
  torch::Tensor AB() const;
  /// B A [..., r, r] (square products only): it has the nonzero eigenvalues of AB.
  torch::Tensor BA() const;

  struct Svd {
    torch::Tensor U;   // [..., m, k]
    torch::Tensor S;   // [..., k], descending, k = min(m, r, n)
    torch::Tensor Vh;  // [..., k, n]
  };
  /// The thin SVD of AB from the SVDs of A and B and of the small core S_A V_A^T U_B S_B (TransformerLens' method):
  /// AB = U diag(S) Vh. The singular values of AB beyond k are zero.
  Svd svd() const;
  /// The eigenvalues of BA (complex, [..., r]): the nonzero eigenvalues of the square AB, the rest of whose m - r
  /// eigenvalues are zero.
  torch::Tensor eigenvalues() const;
  /// Frobenius norm of AB [...], computed from the r x r Gram matrices: ||AB||² = Σ (AᵀA) ∘ (BBᵀ), in float64.
  torch::Tensor norm() const;
  /// The top-left k x k corner of AB (a peek without materialising it).
  torch::Tensor get_corner(int64_t k = 3) const;

 private:
  torch::Tensor A_, B_;
};

}  // namespace arrakis
