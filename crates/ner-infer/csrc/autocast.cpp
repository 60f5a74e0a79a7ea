// tch exposes CUDA autocast only with its default fp16 dtype; bf16 needs at::autocast::set_autocast_dtype.
#include <ATen/autocast_mode.h>

extern "C" {

// Enters a CUDA autocast region computing in bf16 (bf16 != 0) or fp16; returns the previous enabled flag,
// or -1 on error.
int albert_ner_autocast_enter(int bf16) {
  try {
    bool prev = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, bf16 ? at::kBFloat16 : at::kHalf);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::increment_nesting();
    return prev ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// Leaves the region entered by albert_ner_autocast_enter, restoring the previous enabled flag.
void albert_ner_autocast_exit(int prev) {
  try {
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(at::kCUDA, prev == 1);
  } catch (...) {
  }
}

// 0: disabled, 1: enabled with fp16, 2: enabled with bf16, 3: enabled with another dtype.
int albert_ner_autocast_state(void) {
  if (!at::autocast::is_autocast_enabled(at::kCUDA)) return 0;
  auto dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  if (dtype == at::kHalf) return 1;
  if (dtype == at::kBFloat16) return 2;
  return 3;
}
}
