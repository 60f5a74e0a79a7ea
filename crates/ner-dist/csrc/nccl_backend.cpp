// libtorch's ProcessGroupNCCL, built as its own shared library (libner_dist_nccl.so) because it needs
// libtorch_cuda: the binaries load it with dlopen only where a GPU is used, as they load libtorch_cuda,
// so CPU runs never map the CUDA stack. process_group.cpp finds ner_dist_nccl_new with dlsym.
#include <cstdlib>
#include <cstring>
#include <string>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" {

// A ProcessGroupNCCL over `store` (a c10d::Store*, borrowed); returns a c10d::Backend* that owns one
// reference, or null with a malloc'd message in *err.
void* ner_dist_nccl_new(void* store, int rank, int size, int64_t timeout_ms, char** err) {
  try {
    auto shared = c10::intrusive_ptr<c10d::Store>::reclaim_copy(static_cast<c10d::Store*>(store));
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(timeout_ms);
    auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(shared, rank, size, options);
    c10::intrusive_ptr<c10d::Backend> backend = group;
    return backend.release();
  } catch (const c10::Error& e) {
    *err = strdup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = strdup(e.what());
  } catch (...) {
    *err = strdup("unknown C++ exception");
  }
  return nullptr;
}
}
