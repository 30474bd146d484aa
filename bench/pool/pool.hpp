// bench/pool: what its files share. The program (main.cpp says what it measures) runs its
// figures in three phases, one file each: the warm fill and the workers' memory after it
// (figures 1 and 5, warm_fill.cpp), the first touch (figure 2, first_touch.cpp), and the
// dispatch rates and the latency against multiprocessing.Pool (figures 3 and 4, dispatch.cpp);
// workers.cpp reads each worker's memory from /proc (the page faults and the release of removed
// arrays are in ../worker_stats.hpp, shared with bench/first_day). This header holds the section
// titles, the context of the phases and what each file offers.
#pragma once

#include <cstddef>
#include <shmpool/shmpool.hpp>
#include <string>

#include "bench_support.hpp"
#include "worker_stats.hpp"

namespace pool_bench {

using namespace bench;
using array = shmpool::shared_array<double>;

// The sections of the report, one per figure family, in the order of their numbers.
inline const std::string warm_section = "1. warm fill (2 workers vs OpenMP 2 threads, same array)";
inline const std::string touch_section =
    "2. first touch (fresh array, created and filled by the parent)";
inline const std::string dispatch_section = "3. dispatch of empty tasks, 2 workers (M tasks/s)";
inline const std::string latency_section = "4. latency: empty for_each(0, 4) round trip, 4 workers";
inline const std::string memory_section = "5. worker memory after the warm fills (smaps_rollup)";

// Call options without a progress line (the calls are timed), built field by field.
inline shmpool::call_options quiet_options(shmpool::schedule kind = shmpool::schedule::dynamic,
                                           std::size_t chunk = 0) {
    shmpool::call_options o;
    o.kind = kind;
    o.chunk = chunk;
    o.show_progress = shmpool::progress::never;
    return o;
}

// What every phase works with: the pools (made before anything else), the names of the arrays
// it creates, the shape of the array it fills, and the number of rounds.
struct context {
    shmpool::process_pool& pool2;  // 2 workers: every figure but the latency
    shmpool::process_pool& pool4;  // 4 workers: the latency
    array_names& guard;
    std::size_t rows;
    std::size_t cols;
    double gb;  // the array's size in GB (1e9 bytes)
    int rounds;
    bool quick;
};

// How many tasks and calls figures 3 and 4 time (fewer with --quick).
struct dispatch_sizes {
    std::size_t n1;     // tasks at chunk 1
    std::size_t n100;   // tasks at chunk 100
    std::size_t nauto;  // tasks at the automatic chunk size
    int lat_calls;      // timed round trips per round
    int lat_warmup;     // untimed round trips before them
};

dispatch_sizes dispatch_sizes_for(bool quick);

// ---- the phases: each measures its rounds and adds its figures (main.cpp prints them) ----

// Figures 1 and 5; also reports on stderr why memory figures are missing. Returns that reason
// ("" when every memory figure was read).
std::string run_warm_fill(const context& ctx);

// Figure 2.
void run_first_touch(const context& ctx);

// Figures 3 and 4, with bench/python_pool.py run once a round.
void run_dispatch_and_latency(const context& ctx, const dispatch_sizes& n);

// ---- workers.cpp: what /proc says about processes --------------------------------------------
// (The page faults and let_workers_release, shared with bench/first_day: worker_stats.hpp.)

// One process's memory, from /proc/PID/smaps_rollup and /proc/PID/smaps, in KiB.
struct worker_memory {
    double rss_kib, pss_kib, uss_kib, anonymous_kib, private_anonymous_kib;
};

// The memory of process `pid`; throws std::runtime_error when its smaps cannot be read.
worker_memory memory_of(int pid);

}  // namespace pool_bench
