#include "ttt/fused_scan.h"

#include <type_traits>

#include "autograd/node.h"
#include "core/compute.h"
#include "core/error.h"
#include "core/profile.h"
#include "ttt/kernels/scan_kernels.h"

namespace ttt {

namespace {

using scan::ScanShape;
using scan::SequenceArgs;

ScanShape shape_of(const ScanInputs& in, const ScanOptions& opt) {
  const char* op = "fused_scan";
  TTT_CHECK(in.xq.dim() == 5 && in.eta.dim() == 5, op, "expected xq [B, H, n, b, d] and eta [B, H, n, b, b], got ",
            in.xq.describe(), " and ", in.eta.describe());
  TTT_CHECK(opt.form == ScanForm::dual, op, "the fused scan computes the dual form; scan_form '", enum_name(opt.form),
            "' needs use_kernel: false");
  const size_t layers = in.weights.size();
  TTT_CHECK(layers >= 1 && layers == in.biases.size() && layers <= static_cast<size_t>(scan::kMaxLayers), op, "needs 1 to ",
            scan::kMaxLayers, " inner layers with one bias each, got ", layers, " weights and ", in.biases.size(), " biases");
  ScanShape s;
  const int64_t B = in.xq.size(0), H = in.xq.size(1), d = in.xq.size(4);
  s.layers = static_cast<int>(layers);
  s.n = static_cast<int>(in.xq.size(2));
  s.b = static_cast<int>(in.xq.size(3));
  s.heads = static_cast<int>(H);
  s.sequences = static_cast<int>(B * H);
  s.group = opt.checkpoint_group > 0 ? static_cast<int>(opt.checkpoint_group) : 1;
  s.eps = opt.ln_eps;
  const int64_t wb = in.weights[0].size(0);
  TTT_CHECK(wb == 1 || wb == B, op, "inner weights must have batch dim 1 or ", B, ", got ", in.weights[0].describe());
  s.shared_init = wb == 1;
  s.dims[0] = static_cast<int>(d);
  for (size_t l = 0; l < layers; ++l) {
    const Tensor& w = in.weights[l];
    const Tensor& bias = in.biases[l];
    TTT_CHECK(w.dim() == 4 && w.size(0) == wb && w.size(1) == H && w.size(2) == s.dims[l], op, "inner weight ", l, " should be [",
              wb, ", ", H, ", ", s.dims[l], ", d_next], got ", w.describe());
    s.dims[l + 1] = static_cast<int>(w.size(3));
    TTT_CHECK(bias.shape() == Shape({wb, H, 1, w.size(3)}), op, "inner bias ", l, " should be [", wb, ", ", H, ", 1, ", w.size(3),
              "], got ", bias.describe());
  }
  TTT_CHECK(s.dims[layers] == d, op, "the inner model must map d = ", d, " back to d, ends at ", s.dims[layers]);
  for (const Tensor* t : {&in.xk, &in.target})
    TTT_CHECK(t->shape() == in.xq.shape(), op, "xk and target must match xq ", in.xq.describe(), ", got ", t->describe());
  TTT_CHECK(in.eta.shape() == Shape({B, H, s.n, s.b, s.b}), op, "eta should be [", B, ", ", H, ", ", s.n, ", ", s.b, ", ", s.b,
            "], got ", in.eta.describe());
  TTT_CHECK(in.ln_weight.shape() == Shape({H, d}) && in.ln_bias.shape() == Shape({H, d}), op, "ln_weight/ln_bias should be [", H,
            ", ", d, "], got ", in.ln_weight.describe(), " and ", in.ln_bias.describe());
  std::vector<const Tensor*> all = {&in.xq, &in.xk, &in.target, &in.eta, &in.ln_weight, &in.ln_bias};
  for (const Tensor& t : in.weights) all.push_back(&t);
  for (const Tensor& t : in.biases) all.push_back(&t);
  for (const Tensor* t : all) {
    TTT_CHECK(t->dtype() == in.xq.dtype() && t->device() == in.xq.device(), op, "all inputs must share ", in.xq.describe(),
              "'s dtype and device, got ", t->describe());
  }
  TTT_CHECK(in.xq.dtype() == DType::f32 || in.xq.dtype() == DType::f64, op, "needs f32 or f64, got ", in.xq.describe());
  return s;
}

// [rows, P]: each row the flattened W_0, b_0, W_1, b_1, ... of one sequence (or head).
Tensor pack_state(const std::vector<Tensor>& weights, const std::vector<Tensor>& biases) {
  const int64_t rows = weights[0].size(0) * weights[0].size(1);
  std::vector<Tensor> parts;
  for (size_t l = 0; l < weights.size(); ++l) {
    parts.push_back(view_shape(weights[l], {rows, weights[l].numel() / rows}));
    parts.push_back(view_shape(biases[l], {rows, biases[l].numel() / rows}));
  }
  return compute::cat(parts, 1);
}

// The inverse of pack_state for a [B * H, P] tensor: weights [B, H, d_l, d_l+1], biases [B, H, 1, d_l+1].
void unpack_state(const Tensor& packed, const ScanShape& s, int64_t batch, std::vector<Tensor>& weights,
                  std::vector<Tensor>& biases) {
  weights.clear(), biases.clear();
  for (int l = 0; l < s.layers; ++l) {
    const int64_t di = s.dims[l], dn = s.dims[l + 1];
    auto part = [&](int64_t at, int64_t size, const Shape& shape) {
      return view_shape(compute::slice(packed, 1, at, at + size), shape);
    };
    weights.push_back(part(s.w_at(l), di * dn, {batch, s.heads, di, dn}));
    biases.push_back(part(s.b_at(l), dn, {batch, s.heads, 1, dn}));
  }
}

template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
void run(bool forward, const ScanShape& s, const SequenceArgs<T>& a, Device device, MatmulPrecision precision) {
  if (device.is_meta()) return;  // shapes only
  profile::KernelTimer timer(forward ? "fused_scan_forward" : "fused_scan_backward", device);
  if (!device.is_cuda()) {
    forward ? scan::forward_cpu(s, a, precision) : scan::backward_cpu(s, a, precision);
  } else if constexpr (std::is_same_v<T, float>) {
    forward ? scan::forward_cuda(s, a, precision) : scan::backward_cuda(s, a, precision);
  } else {
    fail("fused_scan", "the CUDA kernel is f32 only, got f64 inputs on " + device.str());
  }
}

template <class T>
void run_forward(const ScanShape& s, const ScanInputs& in, const Tensor& init, const Tensor& out, const Tensor& final_state,
                 const Tensor& saved, const Tensor& activations, const Tensor& work, MatmulPrecision precision) {
  SequenceArgs<T> a{};
  a.q = ptr<T>(in.xq), a.k = ptr<T>(in.xk), a.target = ptr<T>(in.target), a.eta = ptr<T>(in.eta);
  a.gamma = ptr<T>(in.ln_weight), a.beta = ptr<T>(in.ln_bias), a.init_state = ptr<T>(init);
  a.out = ptr<T>(out), a.final_state = ptr<T>(final_state), a.saved = ptr<T>(saved), a.work = ptr<T>(work);
  a.activations = ptr<T>(activations);
  run(true, s, a, in.xq.device(), precision);
}

// What backward keeps: the inputs it reads, the saved states (states[0] is the initial state) and,
// with checkpoint group 0, every mini-batch's forward intermediates (else undefined).
struct Saved {
  Tensor xq, xk, target, eta, ln_weight, ln_bias, states, activations;
  MatmulPrecision precision;  // backward's products round as forward's did
};

struct Grads {
  Tensor dq, dk, dtarget, deta, dinit, dgamma, dbeta;
};

template <class T>
void run_backward(const ScanShape& s, const Saved& sv, const Tensor& dout, const Tensor& dfinal, const Grads& g,
                  const Tensor& work, const Tensor& group_states, const Tensor& group_acts) {
  SequenceArgs<T> a{};
  a.q = ptr<T>(sv.xq), a.k = ptr<T>(sv.xk), a.target = ptr<T>(sv.target), a.eta = ptr<T>(sv.eta);
  a.gamma = ptr<T>(sv.ln_weight), a.beta = ptr<T>(sv.ln_bias);
  a.saved = ptr<T>(sv.states), a.work = ptr<T>(work), a.group_states = ptr<T>(group_states);
  a.group_acts = ptr<T>(group_acts);
  a.activations = ptr<T>(sv.activations);
  a.dout = ptr<T>(dout), a.dfinal = ptr<T>(dfinal);
  a.dq = ptr<T>(g.dq), a.dk = ptr<T>(g.dk), a.dtarget = ptr<T>(g.dtarget), a.deta = ptr<T>(g.deta);
  a.dinit = ptr<T>(g.dinit), a.dgamma = ptr<T>(g.dgamma), a.dbeta = ptr<T>(g.dbeta);
  run(false, s, a, sv.xq.device(), sv.precision);
}

}  // namespace

ScanOutputs fused_scan(const ScanInputs& in, const ScanOptions& opt) {
  const ScanShape s = shape_of(in, opt);
  const DType dt = in.xq.dtype();
  const Device dev = in.xq.device();
  const int64_t B = in.xq.size(0), P = s.state_size();
  std::vector<Tensor> inputs = {in.xq, in.xk, in.target, in.eta, in.ln_weight, in.ln_bias};
  inputs.insert(inputs.end(), in.weights.begin(), in.weights.end());
  inputs.insert(inputs.end(), in.biases.begin(), in.biases.end());
  const bool recording = should_record(inputs);

  Tensor init = pack_state(in.weights, in.biases);
  Tensor out = empty(in.xq.shape(), dt, dev), final_state = empty({s.sequences, P}, dt, dev);
  Tensor saved = recording ? empty({s.sequences, s.saved_states(), P}, dt, dev) : Tensor();
  // Group 0 keeps everything, as the composed scan does: backward then skips the recomputation.
  Tensor activations = recording && opt.checkpoint_group == 0 ? empty({s.sequences, s.n, s.layout().acts}, dt, dev) : Tensor();
  Tensor work = empty({s.sequences, s.layout().total}, dt, dev);
  if (dt == DType::f32)
    run_forward<float>(s, in, init, out, final_state, saved, activations, work, opt.precision);
  else
    run_forward<double>(s, in, init, out, final_state, saved, activations, work, opt.precision);
  work = Tensor();

  ScanOutputs result;
  unpack_state(final_state, s, B, result.weights, result.biases);
  std::vector<Tensor> outs = {out};
  outs.insert(outs.end(), result.weights.begin(), result.weights.end());
  outs.insert(outs.end(), result.biases.begin(), result.biases.end());
  if (recording) {
    Saved sv{in.xq, in.xk, in.target, in.eta, in.ln_weight, in.ln_bias, saved, activations, opt.precision};
    outs = record_multi(outs, "fused_scan", inputs, [s, sv, B, dt, dev](const std::vector<Tensor>& g) {
      const int64_t state = s.state_size(), H = s.heads, d = s.d();
      Tensor dout = g[0].defined() ? g[0] : zeros(sv.xq.shape(), dt, dev);
      // The final state's gradients, packed like the state (null when no output needs one).
      Tensor dfinal;
      bool any = false;
      for (size_t i = 1; i < g.size(); ++i) any = any || g[i].defined();
      if (any) {
        std::vector<Tensor> dw, db;
        for (int l = 0; l < s.layers; ++l) {
          const Tensor& gw = g[1 + l];
          const Tensor& gb = g[1 + s.layers + l];
          dw.push_back(gw.defined() ? gw : zeros({B, H, s.dims[l], s.dims[l + 1]}, dt, dev));
          db.push_back(gb.defined() ? gb : zeros({B, H, 1, s.dims[l + 1]}, dt, dev));
        }
        dfinal = pack_state(dw, db);
      }
      Grads gr{empty(sv.xq.shape(), dt, dev),  empty(sv.xq.shape(), dt, dev),        empty(sv.xq.shape(), dt, dev),
               empty(sv.eta.shape(), dt, dev), empty({s.sequences, state}, dt, dev), empty({B, H, d}, dt, dev),
               empty({B, H, d}, dt, dev)};
      Tensor scratch = empty({s.sequences, s.layout().total}, dt, dev);
      Tensor group_states = s.group > 1 ? empty({s.sequences, s.group - 1, state}, dt, dev) : Tensor();
      Tensor group_acts =
          sv.activations.defined() || s.group == 1 ? Tensor() : empty({s.sequences, s.group - 1, s.layout().acts}, dt, dev);
      if (dt == DType::f32)
        run_backward<float>(s, sv, dout, dfinal, gr, scratch, group_states, group_acts);
      else
        run_backward<double>(s, sv, dout, dfinal, gr, scratch, group_states, group_acts);
      std::vector<Tensor> dws, dbs;
      unpack_state(gr.dinit, s, B, dws, dbs);
      const bool shared = s.shared_init;
      auto to_input = [shared](const Tensor& t) {  // a shared initial state: sum over the batch
        return shared ? compute::reduce(ReduceOp::sum, t, {0}, true) : t;
      };
      std::vector<Tensor> grads = {gr.dq,
                                   gr.dk,
                                   gr.dtarget,
                                   gr.deta,
                                   compute::reduce(ReduceOp::sum, gr.dgamma, {0}, false),
                                   compute::reduce(ReduceOp::sum, gr.dbeta, {0}, false)};
      for (const Tensor& t : dws) grads.push_back(to_input(t));
      for (const Tensor& t : dbs) grads.push_back(to_input(t));
      return grads;
    });
  }
  result.out = outs[0];
  for (int l = 0; l < s.layers; ++l) {
    result.weights[l] = outs[1 + l];
    result.biases[l] = outs[1 + s.layers + l];
  }
  return result;
}

}  // namespace ttt
