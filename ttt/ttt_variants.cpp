#include "ttt/ttt_variants.h"

#include "core/error.h"

namespace ttt {

namespace {
TTTConfig checked(TTTConfig c, TTTVariant variant, const char* kind) {
  TTT_CHECK(c.variant == variant, kind, "config.variant is '", enum_name(c.variant), "'; build it with make_ttt");
  return c;
}
}  // namespace

TTTLinear::TTTLinear(const TTTConfig& config, Generator& gen, Device device)
    : TTTBase("TTTLinear", checked(config, TTTVariant::linear, "TTTLinear"), gen, device) {
  InnerInit init = initial_inner(gen, device);
  W1 = register_parameter("W1", init.weights[0]);
  b1 = register_parameter("b1", init.biases[0]);
  set_inner_params({W1}, {b1}, {"W1"}, {"b1"});
}

TTTMLP::TTTMLP(const TTTConfig& config, Generator& gen, Device device)
    : TTTBase("TTTMLP", checked(config, TTTVariant::mlp, "TTTMLP"), gen, device) {
  InnerInit init = initial_inner(gen, device);
  W1 = register_parameter("W1", init.weights[0]);
  b1 = register_parameter("b1", init.biases[0]);
  W2 = register_parameter("W2", init.weights[1]);
  b2 = register_parameter("b2", init.biases[1]);
  set_inner_params({W1, W2}, {b1, b2}, {"W1", "W2"}, {"b1", "b2"});
}

TTTMultiLayer::TTTMultiLayer(const TTTConfig& config, Generator& gen, Device device)
    : TTTBase("TTTMultiLayer", checked(config, TTTVariant::multilayer, "TTTMultiLayer"), gen, device) {
  InnerInit init = initial_inner(gen, device);
  weights = register_module("weights", std::make_shared<nn::ParameterList>());
  biases = register_module("biases", std::make_shared<nn::ParameterList>());
  std::vector<Tensor> w, b;
  std::vector<std::string> wn, bn;
  for (size_t l = 0; l < init.weights.size(); ++l) {
    w.push_back(weights->append(init.weights[l]));
    b.push_back(biases->append(init.biases[l]));
    wn.push_back("weights." + std::to_string(l));
    bn.push_back("biases." + std::to_string(l));
  }
  set_inner_params(w, b, wn, bn);
}

std::shared_ptr<TTTBase> make_ttt(const TTTConfig& config, Generator& gen, Device device) {
  validate(config);
  if (config.variant == TTTVariant::linear) return std::make_shared<TTTLinear>(config, gen, device);
  if (config.variant == TTTVariant::mlp) return std::make_shared<TTTMLP>(config, gen, device);
  return std::make_shared<TTTMultiLayer>(config, gen, device);
}

}  // namespace ttt
