// libtorch's dynamically quantized linear layer (what torch.ao.quantization.quantize_dynamic puts in place of
// nn.Linear, here with its per_channel_dynamic_qconfig): the weight quantized once to symmetric int8 with one
// scale per output row and prepacked for fbgemm, the input quantized per call. One scale per row makes a
// fused layer (the attention's query, key and value as one [3H, H] weight) quantize exactly as its parts. tch generates no bindings for the `quantized::` operators, so they are called through
// the dispatcher here, boxed, holding the packed weight as the IValue the prepack returns. Every function
// catches C++ exceptions and returns them as a malloc'd message (torch-link's shim_errors.h; freed with
// albert_ner_int8_free_error).
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include "shim_errors.h"

namespace {

using albert_ner_shim::guarded;

struct Packed {
  c10::IValue params;
};

// PerChannelMinMaxObserver(dtype=qint8, qscheme=per_channel_symmetric, ch_axis=0), torch's
// default_per_channel_weight_observer: row i's scale is max |w[i]| / ((127 - (-128)) / 2), at least
// float32's epsilon, computed in float32 (as a double tensor, what quantize_per_channel takes); zero points 0.
at::Tensor row_scales(const at::Tensor& w) {
  return std::get<0>(w.abs().max(1))
      .div(127.5)
      .clamp_min(std::numeric_limits<float>::epsilon())
      .to(at::kDouble);
}

}  // namespace

extern "C" {

// Quantizes weight [out, in] (float32) per row and prepacks it with bias [out] (float32); returns the packed layer.
void* albert_ner_int8_pack(const at::Tensor* weight, const at::Tensor* bias, char** err) {
  Packed* packed = nullptr;
  guarded(err, [&] {
    at::NoGradGuard no_grad;
    at::Tensor w = weight->detach().to(at::kFloat).contiguous();
    at::Tensor scales = row_scales(w);
    at::Tensor zero_points = at::zeros({w.size(0)}, at::kLong);
    at::Tensor q = at::quantize_per_channel(w, scales, zero_points, 0, at::kQInt8);
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
    std::vector<c10::IValue> stack{q, std::optional<at::Tensor>(bias->detach().to(at::kFloat).contiguous())};
    op.callBoxed(&stack);
    packed = new Packed{std::move(stack.at(0))};
  });
  return packed;
}

// 1 where this libtorch has a quantized engine whose dynamic linear runs on this CPU (fbgemm or x86,
// which need AVX2), else 0.
int albert_ner_int8_supported(void) {
  try {
    for (auto engine : at::globalContext().supportedQEngines()) {
      if (engine == at::QEngine::FBGEMM || engine == at::QEngine::X86) return 1;
    }
  } catch (...) {
  }
  return 0;
}

void albert_ner_int8_free(void* packed) { delete static_cast<Packed*>(packed); }

void albert_ner_int8_free_error(char* err) { std::free(err); }

// y = x Wᵀ + b for x [..., in] float32, with the input quantized to uint8 per call (reduce_range, as
// torch's DynamicQuantizedLinear calls it); *out receives a new tensor the caller owns.
int albert_ner_int8_linear(void* packed, const at::Tensor* x, at::Tensor** out, char** err) {
  return guarded(err, [&] {
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_dynamic", "");
    std::vector<c10::IValue> stack{x->contiguous(), static_cast<Packed*>(packed)->params, true};
    op.callBoxed(&stack);
    *out = new at::Tensor(stack.at(0).toTensor());
  });
}
}
