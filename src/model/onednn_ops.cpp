#include "model/onednn_ops.hpp"

#include <cstdlib>
#include <string>

#ifdef ARRAKIS_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "arrakis/error.hpp"

namespace arrakis {

bool onednn_enabled() {
#ifdef ARRAKIS_WITH_ONEDNN
  static const bool enabled = [] {
    const char* env = std::getenv("ARRAKIS_ONEDNN");
    return !(env && std::string(env) == "0");
  }();
  return enabled;
#else
  return false;
#endif
}

bool onednn_suits(const torch::Tensor& a, const torch::Tensor& b) {
  return onednn_enabled() && a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kFloat32 &&
         b.scalar_type() == torch::kFloat32 && !a.requires_grad() && !b.requires_grad() && a.numel() > 0 &&
         b.numel() > 0;
}

#ifdef ARRAKIS_WITH_ONEDNN
namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory::desc describe(const MatmulView& v) {
  return dnnl::memory::desc(dnnl::memory::dims(v.shape.begin(), v.shape.end()), dnnl::memory::data_type::f32,
                            dnnl::memory::dims(v.strides.begin(), v.strides.end()));
}

}  // namespace

void onednn_matmul(const MatmulView& src, const MatmulView& weights, const MatmulView* bias, const MatmulView& dst) {
  auto& engine = cpu_engine();
  const auto src_md = describe(src), w_md = describe(weights), dst_md = describe(dst);
  try {
    // oneDNN's primitive cache makes a repeated shape cost a few microseconds here.
    auto desc =
        bias ? dnnl::matmul::desc(src_md, w_md, describe(*bias), dst_md) : dnnl::matmul::desc(src_md, w_md, dst_md);
    dnnl::matmul product(dnnl::matmul::primitive_desc(desc, engine));
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(src_md, engine, src.tensor.data_ptr())},
        {DNNL_ARG_WEIGHTS, dnnl::memory(w_md, engine, weights.tensor.data_ptr())},
        {DNNL_ARG_DST, dnnl::memory(dst_md, engine, dst.tensor.data_ptr())}};
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(describe(*bias), engine, bias->tensor.data_ptr()));
    dnnl::stream stream(engine);
    product.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN matmul failed (set ARRAKIS_ONEDNN=0 to use LibTorch's): ") + e.what());
  }
}
namespace {

dnnl::memory::desc dense_desc(const torch::Tensor& x) {
  return dnnl::memory::desc(dnnl::memory::dims(x.sizes().begin(), x.sizes().end()), dnnl::memory::data_type::f32,
                            dnnl::memory::dims(x.strides().begin(), x.strides().end()));
}

template <class Primitive>
void run_unary(const Primitive& primitive, const dnnl::memory::desc& md, const torch::Tensor& in,
               const torch::Tensor& out, const char* what) {
  auto& engine = cpu_engine();
  try {
    dnnl::stream stream(engine);
    primitive.execute(stream, {{DNNL_ARG_SRC, dnnl::memory(md, engine, in.data_ptr())},
                               {DNNL_ARG_DST, dnnl::memory(md, engine, out.data_ptr())}});
    stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN ") + what + " failed (set ARRAKIS_ONEDNN=0 to use LibTorch's): " + e.what());
  }
}

}  // namespace

torch::Tensor onednn_softmax_last_dim(const torch::Tensor& x) {
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const auto md = dense_desc(in);
  dnnl::softmax_forward softmax(dnnl::softmax_forward::primitive_desc(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, md, static_cast<int>(in.dim()) - 1),
      cpu_engine()));
  run_unary(softmax, md, in, out, "softmax");
  return out;
}

torch::Tensor onednn_eltwise(EltwiseKind kind, const torch::Tensor& x) {
  auto in = x.contiguous();
  auto out = torch::empty_like(in);
  const auto md = dense_desc(in);
  dnnl::algorithm algorithm = dnnl::algorithm::eltwise_relu;
  float alpha = 0.0f;
  switch (kind) {
    case EltwiseKind::GeluTanh: algorithm = dnnl::algorithm::eltwise_gelu_tanh; break;
    case EltwiseKind::GeluErf: algorithm = dnnl::algorithm::eltwise_gelu_erf; break;
    case EltwiseKind::Silu:  // swish: x * sigmoid(alpha * x)
      algorithm = dnnl::algorithm::eltwise_swish;
      alpha = 1.0f;
      break;
    case EltwiseKind::Relu: algorithm = dnnl::algorithm::eltwise_relu; break;
  }
  dnnl::eltwise_forward eltwise(dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm, md, alpha, 0.0f), cpu_engine()));
  run_unary(eltwise, md, in, out, "activation");
  return out;
}
#else
void onednn_matmul(const MatmulView&, const MatmulView&, const MatmulView*, const MatmulView&) {
  throw Error("oneDNN is not compiled into this build");
}
torch::Tensor onednn_softmax_last_dim(const torch::Tensor&) { throw Error("oneDNN is not compiled into this build"); }
torch::Tensor onednn_eltwise(EltwiseKind, const torch::Tensor&) {
  throw Error("oneDNN is not compiled into this build");
}
#endif

}  // namespace arrakis
