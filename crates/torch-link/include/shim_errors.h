// How every C++ shim of this workspace (built with torch_link::cxx_shim) hands a C++ exception to Rust:
// each extern "C" function runs its body in `guarded`, which turns any exception into a malloc'd message
// in *err and returns -1, so no exception crosses the FFI boundary. The crate's own `*_free_error`
// frees the message with std::free.
#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>

#include <c10/util/Exception.h>

namespace albert_ner_shim {

// A malloc'd copy of `what` (null if out of memory).
inline char* copy_message(const char* what) {
  char* out = static_cast<char*>(std::malloc(std::strlen(what) + 1));
  if (out != nullptr) std::strcpy(out, what);
  return out;
}

// Runs f; 0, or -1 with the exception's message in *err (libtorch's without its backtrace).
template <typename F>
int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = copy_message(e.what());
  } catch (...) {
    *err = copy_message("unknown C++ exception");
  }
  return -1;
}

}  // namespace albert_ner_shim
