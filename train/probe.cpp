#include "train/probe.h"

#include "autograd/ops.h"
#include "core/error.h"
#include "ttt/ttt_variants.h"

namespace ttt {

ProbeResult run_probe(const TTTConfig& config, const std::vector<nn::NamedTensor>& weights, const Tensor& x, const Tensor& dy,
                      const SeqMetadata& meta, Device device, DType dtype) {
  Generator gen(0);
  auto layer = make_ttt(config, gen, Device::cpu());
  // built in the asked dtype first, so f64 weights load into f64 parameters (never through f32);
  // strict: every parameter must be given, under our names; --dtype is the asked cast
  layer->to_dtype(dtype);
  layer->load_state_dict(weights, /*strict=*/true, /*allow_cast=*/true);
  layer->to(device);
  TTT_CHECK(x.shape() == dy.shape(), "ttt-probe", "input x ", x.describe(), " and upstream gradient dy ", dy.describe(),
            " differ in shape");
  Tensor xin = to_device(to_dtype(x, dtype), device).set_requires_grad(true);
  Tensor y = layer->forward(xin, meta);
  backward(y, to_device(to_dtype(dy, dtype), device));
  ProbeResult r;
  r.y = to_device(y.detach(), Device::cpu());
  r.grads.emplace_back("grad.x", to_device(xin.grad(), Device::cpu()));
  for (auto& [name, p] : layer->named_parameters()) {
    Tensor g = p.grad().defined() ? p.grad() : zeros(p.shape(), p.dtype(), p.device());
    r.grads.emplace_back("grad." + name, to_device(g, Device::cpu()));
  }
  return r;
}

}  // namespace ttt
