// The stream benchmark: process_pool's streams (imap, imap_unordered, imap_blocks) against the
// baselines they are judged by, measured in the same run, interleaved round by round (median,
// min and max over the rounds, and the ratio to the baseline), 2 workers:
//
//   1. pipeline     a producer in the workers and a consumer in this process, ~20 us of busy
//                   work each per item, 200,000 items: imap against the stages alone
//                   (target: imap / max(stage alone) <= 1.15), against the old way (map a
//                   window, then consume it) and against multiprocessing.Pool(2).imap at its
//                   best chunksize of 1, 16, 256 (its ratio and items/s);
//   2. blocks       4,000 blocks of 256 x 256 float32 through imap_blocks, filled by the task
//                   and summed in place by the consumer, against the same sums over a warm
//                   shared array of the blocks (GB/s of the consumer's sums: target >= 0.8x;
//                   and of its loop's wall time), with the default window and a small one;
//   3. empty tasks  1,000,000 empty tasks through imap_unordered and imap against
//                   multiprocessing.Pool(2).imap_unordered(chunksize=1) (tasks/s; target
//                   >= 100x);
//   4. early stop   the destructor of an imap range destroyed mid-stream (tasks of ~1 ms).
//
// The Python figures come from bench/stream/python_stream.py, run once a round with the python3
// found at configure time (SHMPOOL_PYTHON). Ratios read "times better than the baseline":
// value / baseline for rates, baseline / value for times, so > 1 always means shmpool is ahead;
// the "x" figures of section 1 are quotients: of times (lower is better), or the workers'
// speedup and the consumer's CPU share (higher is better). Targets are reported, not asserted. Everything it creates in /dev/shm is removed at the end, also on an error.
//
// This file: the options, the calibration of the busy work, the rounds, the report and the
// JSON. Each figure family has a file of its own (stream.hpp lists them).
//
//   stream [--rounds 5] [--quick] [--json FILE] [--items N] [--blocks N] [--window W]
//          [--block-window B]
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "stream.hpp"

namespace stream_bench {
namespace {

constexpr double item_us = 20;  // the work of each stage per item
constexpr const char* prefix = "shmpool_bench_stream";

struct options {
    run_options run;
    sizes n{};
};

options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "stream: imap, imap_unordered and imap_blocks against their stages alone, the old "
        "map-then-consume, a warm shared array and multiprocessing.Pool's imap"};
    std::size_t items = 0, blocks = 0, block_window = 16, window = 1024;
    app.add_option("--items", items, "figure 1: items of the pipeline (200000; --quick 10000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--blocks", blocks, "figure 2: blocks streamed (4000; --quick 200)")
        ->check(CLI::PositiveNumber);
    app.add_option("--block-window", block_window,
                   "figure 2: imap_blocks' small window, in blocks (16: a 4 MiB ring)")
        ->check(CLI::PositiveNumber);
    app.add_option("--window", window, "figure 1: W, the window of the old way and of imap")
        ->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    const bool q = o.run.quick;
    if (q && !o.run.rounds_given) o.run.rounds = 2;
    const auto pick = [q](std::size_t quick, std::size_t full) { return q ? quick : full; };
    o.n = {.items = items ? items : pick(10'000, 200'000),
           .window = window,
           .blocks = blocks ? blocks : pick(200, 4'000),
           .block_window = block_window,
           .empty_items = pick(100'000, 1'000'000),
           .early_items = pick(200, 1'000),
           .early_consumed = pick(10, 20),
           .early_trials = q ? 2 : 5};
    return o;
}

// spin() steps that take about `us` microseconds here, and what they took (the best of 20).
std::pair<std::uint64_t, double> calibrate(double us) {
    const auto best_of = [](int runs, std::uint64_t iters) {
        double best = std::numeric_limits<double>::infinity();
        for (int k = 0; k < runs; ++k) {
            const auto t = clock_type::now();
            keep(spin(iters, k));
            best = std::min(best, seconds_since(t));
        }
        return best;
    };
    constexpr std::uint64_t probe = 1 << 20;
    const double per_iter = best_of(5, probe) / double(probe);
    const auto iters = std::max<std::uint64_t>(1, std::uint64_t(us * 1e-6 / per_iter + 0.5));
    return {iters, best_of(20, iters) * 1e6};
}

// The names in /dev/shm of this process's segments: its arrays (PREFIX_PID_...) and the pool's
// rings (shmpool-results-PID-N).
std::set<std::string> shm_names() {
    const std::string pid = std::to_string(::getpid());
    std::set<std::string> names;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.find("_" + pid + "_") != std::string::npos ||
                name.find("-" + pid + "-") != std::string::npos)
                names.insert(name);
        }
        ::closedir(d);
    }
    return names;
}

void print_header(const context& ctx, int rounds) {
    std::printf(
        "shmpool stream benchmark: %d rounds, interleaved; 2 workers, %zu usable cores; "
        "busy work %.2f us per item per stage (%llu xorshift steps)\n",
        rounds, shmpool::process_pool::usable_cores(), ctx.item_us,
        static_cast<unsigned long long>(ctx.item_iters));
    std::printf(
        "figure 1: %zu items, W = %zu; figure 2: %zu blocks of %zu KiB, windows: default and "
        "%zu; figure 3: %zu tasks; figure 4: %zu tasks of ~%.0f us, %zu taken, %d ranges a "
        "round\n",
        ctx.n.items, ctx.n.window, ctx.n.blocks, block_bytes >> 10, ctx.n.block_window,
        ctx.n.empty_items,
        ctx.n.early_items, ctx.item_us * 50, ctx.n.early_consumed, ctx.n.early_trials);
    std::printf(
        "ratio = times better than the baseline (value/baseline for rates, baseline/value for "
        "times)\n");
    std::fflush(stdout);
}

struct all_series {
    explicit all_series(const sizes& n) : pipeline(n.window), blocks(n.block_window) {}
    pipeline_series pipeline;
    blocks_series blocks;
    empty_series empty;
    early_series early;
    python_run python;  // the last run that worked (its version and sizes)
};

void run_rounds(const context& ctx, all_series& s, int rounds) {
    for (int r = 0; r < rounds; ++r) {
        const auto round_start = clock_type::now();
        const std::vector<std::function<void()>> steps = {
            [&] {  // Python: the baselines of figures 1 and 3 in one run
                const python_run py = run_python(ctx.quick);
                pipeline_python(py, s.pipeline);
                empty_python(py, s.empty);
                if (!py.version.empty()) s.python = py;
            },
            [&] { pipeline_step(ctx, s.pipeline); },
            [&] { blocks_step(ctx, s.blocks); },
            [&] { empty_step(ctx, s.empty); },
            [&] { early_step(ctx, s.early); },
        };
        for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
        std::printf("round %d/%d: %.1f s\n", r + 1, rounds, seconds_since(round_start));
        std::fflush(stdout);
    }
}

void report(all_series& s) {
    report_pipeline(s.pipeline);
    report_blocks(s.blocks);
    report_empty(s.empty);
    report_early(s.early);
    for (const std::string* sec : {&pipeline_section, &blocks_section, &empty_section,
                                   &early_section})
        print_section(*sec, name_width, base_width);
}

json_config json_configuration(const context& ctx, int rounds, const python_run& py,
                               double seconds) {
    return {{"rounds", rounds},
            {"quick", ctx.quick},
            {"workers", ctx.pool.size()},
            {"usable_cores", shmpool::process_pool::usable_cores()},
            {"item_us", json_number(ctx.item_us)},
            {"item_iters", ctx.item_iters},
            {"items", ctx.n.items},
            {"window", ctx.n.window},
            {"blocks", ctx.n.blocks},
            {"block_bytes", block_bytes},
            {"block_window_small", ctx.n.block_window},
            {"empty_items", ctx.n.empty_items},
            {"early_items", ctx.n.early_items},
            {"early_consumed", ctx.n.early_consumed},
            {"early_trials", ctx.n.early_trials},
            {"python", py.version},
            {"python_item_us", json_number(py.item_us)},
            {"python_items", json_number(py.items)},
            {"python_empty_items", json_number(py.empty_items)},
            {"seconds", json_number(seconds)}};
}

// Runs everything with a pool made first; returns the configuration for the JSON.
json_config run(const options& opt) {
    shmpool::process_pool pool(2);                      // first: before anything else runs
    pool.for_each(0, pool.size(), [](std::size_t) {});  // warm: the timed calls are not its first
    const auto started = clock_type::now();
    array_names guard(prefix);
    const auto [iters, us] = calibrate(item_us);
    const std::string warm_name = guard.make_name("warm");
    shmpool::create_options copts;
    copts.show_progress = shmpool::progress::never;
    const context ctx{
        .pool = pool,
        .n = opt.n,
        .quick = opt.run.quick,
        .item_iters = iters,
        .item_us = us,
        .warm = shmpool::shared_array<float>::create(warm_name,
                                                     {opt.n.blocks, block_side, block_side}, copts)};
    fill_warm_blocks(pool, ctx.warm, opt.n.blocks);
    print_header(ctx, opt.run.rounds);
    all_series s(opt.n);
    run_rounds(ctx, s, opt.run.rounds);
    report(s);
    guard.remove(warm_name);
    return json_configuration(ctx, opt.run.rounds, s.python, seconds_since(started));
}

void write_json(const std::string& path, const json_config& config) {
    write_json_file(path, figures_document("stream", config));
}

}  // namespace
}  // namespace stream_bench

int main(int argc, char** argv) try {
    using namespace stream_bench;
    const options opt = parse(argc, argv);
    const std::set<std::string> before = shm_names();
    const json_config config = run(opt);  // the pool is gone when it returns
    std::vector<std::string> left;
    for (const std::string& name : shm_names())
        if (!before.count(name)) left.push_back(name);
    for (const std::string& name : left)
        std::fprintf(stderr, "warning: left in /dev/shm: %s\n", name.c_str());
    std::printf("\ntotal %.1f s%s\n", config.at("seconds").get<double>(),
                left.empty() ? "; nothing left in /dev/shm" : "");
    if (!opt.run.json.empty()) {
        write_json(opt.run.json, config);
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "stream: %s\n", e.what());
    return 1;
}
