// The three TTT variants. Each one only names its inner weights (docs/spec/TTT_SPEC.md section 7a) and
// implements ttt_scan(); everything else is TTTBase.
//   TTTLinear      f(x) = x + LN(x W1 + b1)
//   TTTMLP         f(x) = x + LN(gelu(x W1 + b1) W2 + b2), hidden = mlp_expansion * d
//   TTTMultiLayer  N linear layers with gelu between, dims from mlp_dims, in ParameterLists
//                  weights.0 .. weights.{N-1}, biases.0 ..; N = 2 computes exactly TTTMLP.
#pragma once
#include "nn/containers.h"
#include "ttt/ttt_base.h"

namespace ttt {

class TTTLinear : public TTTBase {
 public:
  TTTLinear(const TTTConfig& config, Generator& gen, Device device = Device::cpu());
  Tensor W1, b1;

 protected:
  ScanOutputs ttt_scan(const ScanInputs& inputs) override { return default_scan(inputs); }
};

class TTTMLP : public TTTBase {
 public:
  TTTMLP(const TTTConfig& config, Generator& gen, Device device = Device::cpu());
  Tensor W1, b1, W2, b2;

 protected:
  ScanOutputs ttt_scan(const ScanInputs& inputs) override { return default_scan(inputs); }
};

class TTTMultiLayer : public TTTBase {
 public:
  TTTMultiLayer(const TTTConfig& config, Generator& gen, Device device = Device::cpu());
  std::shared_ptr<nn::ParameterList> weights, biases;

 protected:
  ScanOutputs ttt_scan(const ScanInputs& inputs) override { return default_scan(inputs); }
};

// Builds the variant named by config.variant (validated first); the only constructor callers need.
std::shared_ptr<TTTBase> make_ttt(const TTTConfig& config, Generator& gen, Device device = Device::cpu());

}  // namespace ttt
