// The pool's per-task costs as Google Benchmark micro-benchmarks:
//
//   dispatch/chunk:C      for_each of empty tasks over 2 workers with dynamic chunks of C indices
//                         (C = 1, 10, 100, 1000, 10000, and auto: the pool's own choice);
//                         items_per_second is the dispatch rate in tasks per second;
//   round_trip/workers:4  an empty for_each(0, 4) with 4 workers: one call's round trip.
//
// Its baseline, multiprocessing.Pool(2).map at the same chunksizes and Pool(4).apply, is run by
// bench/report.py, which alternates one run of this program with one run of the Python side,
// round after round. All Google Benchmark flags apply, e.g.
//
//   dispatch_gbench --benchmark_format=json --benchmark_min_time=0.2
//
// The pools are constructed before Google Benchmark starts (a pool refuses to start in a
// process that runs threads; no benchmark here uses threads of its own).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <shmpool/shmpool.hpp>
#include <string>

namespace {

shmpool::process_pool* pool2 = nullptr;
shmpool::process_pool* pool4 = nullptr;

shmpool::call_options options_for(std::size_t chunk) {
    shmpool::call_options o;
    o.kind = shmpool::schedule::dynamic;
    o.chunk = chunk;  // 0: automatic
    o.show_progress = shmpool::progress::never;
    return o;
}

// `tasks` empty tasks per call, in chunks of `chunk` (0 = automatic).
void dispatch(benchmark::State& state, std::size_t chunk, std::size_t tasks) {
    const shmpool::call_options o = options_for(chunk);
    for (auto _ : state) {
        const shmpool::call_result done = pool2->for_each(0, tasks, [](std::size_t) {}, o);
        if (done.completed != tasks) {
            state.SkipWithError("tasks went missing");
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(tasks));
    state.counters["chunk"] = static_cast<double>(chunk);
    state.counters["tasks_per_call"] = static_cast<double>(tasks);
}

void round_trip(benchmark::State& state) {
    const shmpool::call_options o = options_for(0);
    for (auto _ : state) pool4->for_each(0, 4, [](std::size_t) {}, o);
}

}  // namespace

int main(int argc, char** argv) {
    shmpool::process_pool p2(2);
    shmpool::process_pool p4(4);
    pool2 = &p2;
    pool4 = &p4;
    // Warm-up: the workers' first call maps the call area.
    p2.for_each(0, 1000, [](std::size_t) {}, options_for(0));
    p4.for_each(0, 1000, [](std::size_t) {}, options_for(0));

    struct config {
        std::size_t chunk;
        std::size_t tasks;  // per call: 10-100 ms of work at the rates seen on a 2-vCPU VM
    };
    for (const config c : {config{1, 1'000'000}, config{10, 10'000'000},
                           config{100, 100'000'000}, config{1000, 100'000'000},
                           config{10000, 100'000'000}, config{0, 100'000'000}}) {
        const std::string name =
            "dispatch/chunk:" + (c.chunk == 0 ? std::string("auto") : std::to_string(c.chunk));
        benchmark::RegisterBenchmark(name.c_str(), dispatch, c.chunk, c.tasks)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark("round_trip/workers:4", round_trip)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
