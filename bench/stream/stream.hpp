// bench/stream: what its files share. The program (main.cpp says what it measures) runs four
// figure families, one file each: a producer/consumer pipeline through imap against its stages
// alone, the old "compute a window, then consume it" and multiprocessing.Pool.imap
// (pipeline.cpp); imap_blocks' blocks summed in place against a warm shared array (blocks.cpp);
// empty tasks through imap_unordered and imap against Python's imap_unordered (empty_tasks.cpp);
// the time to destroy a range mid-stream (early_stop.cpp). python_side.cpp runs the Python
// baseline, bench/stream/python_stream.py. This header holds the sections, the busy work, the
// sizes, the context of the steps and what each file offers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <shmpool/process_pool.hpp>
#include <shmpool/shared_array.hpp>
#include <string>

#include "bench_support.hpp"

namespace stream_bench {

using namespace bench;

// The sections of the report, in the order of their numbers.
inline const std::string pipeline_section =
    "1. pipeline: producer (2 workers) and consumer (this process), ~20 us of work each per item";
inline const std::string blocks_section =
    "2. zero-copy blocks: 256 x 256 float32 blocks (256 KiB) summed in place by the consumer";
inline const std::string empty_section = "3. empty tasks through a stream, 2 workers";
inline const std::string early_section =
    "4. early stop: destroying an imap range mid-stream (tasks of ~1 ms)";
constexpr int name_width = 60, base_width = 62;  // this program's figures have long names

// ---- the busy work ---------------------------------------------------------------------------

/// `iters` steps of xorshift64 from `seed`: busy CPU work, a chain of dependent steps the
/// compiler cannot shorten. Its cost does not depend on the seed.
[[gnu::noinline]] inline std::uint64_t spin(std::uint64_t iters, std::uint64_t seed) {
    std::uint64_t x = seed | 1;
    for (std::uint64_t k = 0; k < iters; ++k) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

/// Keeps `v` alive: work whose result nobody reads is not left out.
template <class T>
inline void keep(const T& v) {
    __asm__ __volatile__("" : : "r"(v) : "memory");
}

/// The value every element of block i holds (small integers: float sums stay exact).
inline float block_value(std::size_t i) { return static_cast<float>(i % 251); }

// ---- the sizes and the context ---------------------------------------------------------------

constexpr std::size_t block_side = 256;  // figure 2: blocks of block_side x block_side floats
constexpr std::size_t block_floats = block_side * block_side;
constexpr std::size_t block_bytes = block_floats * sizeof(float);

/// The sum of the block_floats floats at p, 32 float accumulators wide (vectorised without
/// -ffast-math): the consumer's work on a block, the same on both sides of figure 2.
inline double sum_block(const float* p) {
    constexpr std::size_t lanes = 32;
    static_assert(block_floats % lanes == 0);
    float acc[lanes] = {};
    for (std::size_t i = 0; i < block_floats; i += lanes)
        for (std::size_t k = 0; k < lanes; ++k) acc[k] += p[i + k];
    double total = 0;
    for (float a : acc) total += a;
    return total;
}

struct sizes {
    std::size_t items;          // figure 1: items of the pipeline
    std::size_t window;         // figure 1: W, the window of the old way (and of imap, window W)
    std::size_t blocks;         // figure 2
    std::size_t block_window;   // figure 2: the small window of imap_blocks (the other: default)
    std::size_t empty_items;    // figure 3
    std::size_t early_items;    // figure 4: the range destroyed early
    std::size_t early_consumed; // figure 4: results taken before it is destroyed
    int early_trials;           // figure 4: ranges destroyed per round
};

/// What every step works with.
struct context {
    shmpool::process_pool& pool;  // 2 workers, made before anything else
    sizes n;
    bool quick;
    std::uint64_t item_iters;        // spin() steps of ~20 us
    double item_us;                  // what they took when calibrated
    shmpool::shared_array<float> warm;  // figure 2's baseline: the blocks, warm, in place
};

/// Call options of every timed call: no progress line.
inline shmpool::call_options quiet() {
    shmpool::call_options o;
    o.show_progress = shmpool::progress::never;
    return o;
}

// ---- what the Python baseline measured in one run (python_side.cpp) --------------------------

struct python_run {
    double item_us = no_value;      // its calibrated work per stage per item
    double items = no_value;        // pipeline items
    double consumer_s = no_value, producer_s = no_value;
    double pipeline_s[3] = {no_value, no_value, no_value};  // chunksize 1, 16, 256
    double empty_items = no_value, empty_s = no_value;
    std::string version;
};
inline constexpr int python_chunksizes[3] = {1, 16, 256};

python_run run_python(bool quick);

// ---- the series of each figure family, one value per round ------------------------------------

struct pipeline_series {  // pipeline.cpp
    explicit pipeline_series(std::size_t window);
    series consumer, producer, stage_max, old_way, imap, imap_w;
    series imap_ratio, imap_w_ratio, old_ratio, imap_rate;
    series speedup, bound, imap_bound_ratio;  // what this machine's two vCPUs allow
    series imap_cpu, imap_w_cpu;              // the consumer's share of a CPU in the pipeline
    series py_consumer, py_producer, py_chunk[3], py_best, py_ratio, py_best_chunk, py_rate;
    series py_bound_ratio;
};

struct blocks_series {  // blocks.cpp
    explicit blocks_series(std::size_t window);
    series warm, wall, sums, wall_small, sums_small, fill;
};

struct empty_series {  // empty_tasks.cpp
    series py{"Python Pool(2).imap_unordered, chunksize 1", "tasks/s", true, {}};
    series unordered{"imap_unordered", "tasks/s", true, {}};
    series ordered{"imap (ordered)", "tasks/s", true, {}};
};

struct early_series {  // early_stop.cpp
    series task{"one task (the work of each index)", "ms", false, {}};
    series destroy{"imap range destroyed mid-stream: destructor", "ms", false, {}};
};

// ---- the steps: each runs once a round and adds to its series; report_* adds the figures ----

void pipeline_step(const context& ctx, pipeline_series& s);
void pipeline_python(const python_run& py, pipeline_series& s);
void report_pipeline(pipeline_series& s);

void blocks_step(const context& ctx, blocks_series& s);
void report_blocks(blocks_series& s);
/// Figure 2's baseline: `blocks` blocks in `warm`, filled by the workers, then read here once.
void fill_warm_blocks(shmpool::process_pool& pool, const shmpool::shared_array<float>& warm,
                      std::size_t blocks);

void empty_step(const context& ctx, empty_series& s);
void empty_python(const python_run& py, empty_series& s);
void report_empty(empty_series& s);

void early_step(const context& ctx, early_series& s);
void report_early(early_series& s);

}  // namespace stream_bench
