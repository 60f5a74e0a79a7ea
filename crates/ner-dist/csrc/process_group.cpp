// A C interface to libtorch's own c10d: a TCPStore rendezvous and a Gloo (CPU) or NCCL (CUDA) backend,
// with the few collectives data-parallel training needs. Every function catches C++ exceptions and
// returns them as a malloc'd message (freed with ner_dist_free_error), so no exception crosses into Rust.
//
// The Gloo-facing code is kept to what c10d's headers declare and the library implements out of line:
// ProcessGroupGloo's constructor, Options::create_default, and the Backend virtuals. gloo's own headers
// are those of the gloo commit torch 2.11.0 was built with (vendor/gloo, see its PROVENANCE.md), so
// what this file compiles describes the objects libtorch_cpu.so makes; the sizes are checked below.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "shim_errors.h"

namespace {

using albert_ner_shim::copy_message;
using albert_ner_shim::guarded;

// Every key this shim's callers use lives under it, apart from TCPStore's own.
const char* const kKeyPrefix = "albert-ner";

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  bool gloo = false;
};

// A store connection used by one thread alone (the heartbeat's).
struct StoreClient {
  c10::intrusive_ptr<c10d::Store> store;
};


// The sizes libtorch_cpu.so (torch 2.11.0) allocates for these objects itself, read from its code:
// ProcessGroupGloo::split calls operator new(0x1e8) for a ProcessGroupGloo and Options::create_default
// operator new(0xb0) for Options. This file allocates the group itself (make_intrusive below), and the
// header's inline Options::create allocates Options by its declared size, so headers that declared
// another layout than the library's fail to compile here instead of corrupting the heap at run time.
static_assert(sizeof(c10d::ProcessGroupGloo) == 0x1e8,
              "ProcessGroupGloo's size differs from libtorch 2.11.0's: headers of another torch or gloo?");
static_assert(sizeof(c10d::ProcessGroupGloo::Options) == 0xb0,
              "ProcessGroupGloo::Options' size differs from libtorch 2.11.0's: headers of another torch?");

c10::intrusive_ptr<c10d::Backend> make_gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                            int size, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

// ProcessGroupNCCL from libner_dist_nccl.so, which the caller has loaded (dlopen, RTLD_GLOBAL).
c10::intrusive_ptr<c10d::Backend> make_nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                            int size, std::chrono::milliseconds timeout) {
  using Make = void* (*)(void*, int, int, int64_t, char**);
  auto make = reinterpret_cast<Make>(dlsym(RTLD_DEFAULT, "ner_dist_nccl_new"));
  if (make == nullptr) {
    throw std::runtime_error("the NCCL backend library (libner_dist_nccl.so) is not loaded");
  }
  char* err = nullptr;
  void* backend = make(store.get(), rank, size, timeout.count(), &err);
  if (backend == nullptr) {
    std::string message = err != nullptr ? err : "ProcessGroupNCCL failed";
    std::free(err);
    throw std::runtime_error(message);
  }
  return c10::intrusive_ptr<c10d::Backend>::reclaim(static_cast<c10d::Backend*>(backend));
}

void wait(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait()) throw std::runtime_error("collective did not complete");
}

// libtorch 2.11's FlightRecorder is one per process, shared by every group, and its
// recordWithResetEnabled (FlightRecorderDetail.hpp) looks up and inserts the group's entry in a
// std::map (all_pg_status_) before it takes its own mutex. ProcessGroupGloo::enqueue calls it for every
// collective, on the calling thread: two Gloo groups of one process starting collectives at once
// corrupt that map, and a later insert crashes in std::_Rb_tree_insert_and_rebalance (the SIGSEGV the
// collectives tests hit with several groups in one process; repro/flight_recorder_race.cpp shows it
// with libtorch alone). Starting a Gloo collective therefore takes this lock; waiting for it does not,
// so the groups' collectives still run concurrently.
std::mutex& gloo_start_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Starts a collective with `start(backend)` and waits for it. Only Gloo's start is serialised:
// ProcessGroupNCCL's first collective blocks inside the call until its peers join (communicator
// set-up), so ranks of one process sharing a lock there could deadlock; NCCL runs one group a process.
template <typename Start>
void run(void* raw, Start&& start) {
  Group& group = *static_cast<Group*>(raw);
  c10::intrusive_ptr<c10d::Work> work;
  if (group.gloo) {
    std::lock_guard<std::mutex> lock(gloo_start_mutex());
    work = start(*group.backend);
  } else {
    work = start(*group.backend);
  }
  wait(work);
}

}  // namespace

extern "C" {

// Joins the group of `world` processes whose rank 0 serves the TCPStore at master:port. backend: 0
// Gloo, 1 NCCL. Every wait (connecting, each collective) gives up after timeout_ms.
void* ner_dist_new(const char* master, int port, int rank, int world, int64_t timeout_ms, int backend,
                   char** err) {
  Group* out = nullptr;
  guarded(err, [&] {
    std::chrono::milliseconds timeout(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = rank == 0;
    opts.numWorkers = world;
    opts.waitWorkers = true;
    opts.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(master), opts);
    auto store = c10::make_intrusive<c10d::PrefixStore>(kKeyPrefix, tcp);
    auto group = std::make_unique<Group>();
    group->store = store;
    group->gloo = backend != 1;
    group->backend = group->gloo ? make_gloo(store, rank, world, timeout)
                                 : make_nccl(store, rank, world, timeout);
    out = group.release();
  });
  return out;
}

void ner_dist_free(void* group) { delete static_cast<Group*>(group); }

void ner_dist_free_error(char* err) { std::free(err); }

// In-place sum of `tensor` over every rank.
int ner_dist_all_reduce_sum(void* group, at::Tensor* tensor, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    run(group, [&](c10d::Backend& b) { return b.allreduce(tensors, opts); });
  });
}

// In-place max of `tensor` over every rank.
int ner_dist_all_reduce_max(void* group, at::Tensor* tensor, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::MAX;
    run(group, [&](c10d::Backend& b) { return b.allreduce(tensors, opts); });
  });
}

// Copies rank `root`'s `tensor` into every other rank's.
int ner_dist_broadcast(void* group, at::Tensor* tensor, int root, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    run(group, [&](c10d::Backend& b) { return b.broadcast(tensors, opts); });
  });
}

int ner_dist_barrier(void* group, char** err) {
  return guarded(err, [&] { run(group, [](c10d::Backend& b) { return b.barrier(); }); });
}

// Stores `value` under `key` in the rendezvous store (what a failing rank leaves for the others).
int ner_dist_store_set(void* group, const char* key, const char* value, char** err) {
  return guarded(err, [&] {
    std::string v(value);
    static_cast<Group*>(group)->store->set(key, std::vector<uint8_t>(v.begin(), v.end()));
  });
}

// A store client of its own against the master's TCPStore (the heartbeat's: see src/heartbeat.rs), under
// the group's key prefix. It does not count itself among the workers the server waits for.
void* ner_dist_store_client_new(const char* master, int port, int64_t timeout_ms, char** err) {
  StoreClient* out = nullptr;
  guarded(err, [&] {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = false;
    opts.waitWorkers = false;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(master), opts);
    out = new StoreClient{c10::make_intrusive<c10d::PrefixStore>(kKeyPrefix, tcp)};
  });
  return out;
}

void ner_dist_store_client_free(void* client) { delete static_cast<StoreClient*>(client); }

int ner_dist_store_client_set(void* client, const char* key, const char* value, char** err) {
  return guarded(err, [&] {
    std::string v(value);
    static_cast<StoreClient*>(client)->store->set(key, std::vector<uint8_t>(v.begin(), v.end()));
  });
}

// Reads `key` if it is set (*found = 0 otherwise); the value is malloc'd into *value.
int ner_dist_store_get(void* group, const char* key, int* found, char** value, char** err) {
  return guarded(err, [&] {
    auto& store = static_cast<Group*>(group)->store;
    *found = store->check({key}) ? 1 : 0;
    if (*found) {
      auto bytes = store->get(key);
      std::string s(bytes.begin(), bytes.end());
      *value = copy_message(s.c_str());
    }
  });
}
}
