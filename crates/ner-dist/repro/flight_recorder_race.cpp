// Minimal reproducer: libtorch 2.11.0's ProcessGroupGloo crashes when groups of one process start
// collectives at the same time. Public c10d API only: groups of one rank over a HashStore, so no
// network rendezvous is involved.
//
// Cause: ProcessGroupGloo::enqueue records every collective in FlightRecorder<c10::Event>, one per
// process, whose recordWithResetEnabled (torch/csrc/distributed/c10d/FlightRecorderDetail.hpp) looks
// up and inserts the group in a std::map, all_pg_status_, before it takes its mutex_. Threads that start
// the first collective of different groups at once insert into that map concurrently and corrupt it;
// a later insert crashes in std::_Rb_tree_insert_and_rebalance (or a lookup loops forever). With
// TORCH_FR_BUFFER_SIZE=0 (recorder disabled) it does not crash.
//
// Build and run, from crates/ner-dist (TORCH = the venv's site-packages/torch):
//   g++ -std=c++17 -O1 -pthread -D_GLIBCXX_USE_CXX11_ABI=1 -DUSE_C10D_GLOO \
//     -I$TORCH/include -I$TORCH/include/torch/csrc/api/include -Ivendor/gloo/include \
//     repro/flight_recorder_race.cpp -o /tmp/fr_race \
//     -L$TORCH/lib -ltorch_cpu -lc10 -Wl,-rpath,$TORCH/lib
//   /tmp/fr_race            # SIGSEGV within seconds
//   TORCH_FR_BUFFER_SIZE=0 /tmp/fr_race   # "no crash"
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

namespace {

constexpr int kThreads = 8;
constexpr int kRounds = 2000;

c10::intrusive_ptr<c10d::ProcessGroupGloo> group_of_one() {
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  auto store = c10::make_intrusive<c10d::HashStore>();
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, 0, 1, options);
}

}  // namespace

int main() {
  for (int round = 0; round < kRounds; ++round) {
    // New groups each round: new entries for the recorder's map, inserted by all threads at once.
    std::vector<c10::intrusive_ptr<c10d::ProcessGroupGloo>> groups;
    for (int i = 0; i < kThreads; ++i) groups.push_back(group_of_one());
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        // Spin until every thread is here, so that their first collectives start together.
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        groups[i]->barrier()->wait();
      });
    }
    for (auto& t : threads) t.join();
  }
  std::puts("no crash");
  return 0;
}
