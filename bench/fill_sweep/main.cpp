// Fill speed against the number of workers: process_pool against the baselines it is judged by,
// for each worker count of --workers-list (1, 2, 4, 8 by default), measured in the same run and
// interleaved round by round (median, min and max over the rounds, and the ratio):
//
//   warm fill    a for_each with schedule::static_ writing every element of a GiB-sized array
//                that the workers wrote before (each worker writes the same rows every time, so
//                its page tables are warm), against an OpenMP `parallel for` schedule(static)
//                with as many threads, warmed the same way; the same for_each with the default
//                dynamic schedule (a worker may get rows it never mapped: with more workers than
//                cores it pays page faults again); and a single-threaded memset of the same array
//                (the ceiling: one core writing memory that is mapped already);
//   first touch  the pool's first for_each, with call_options::touch_rows, over a fresh array
//                that the parent created and filled, against as many children forked to write
//                their share and _exit (what multiprocessing.Pool's fork does).
//
// The pools (one per worker count) are constructed first: a pool refuses to start in a process
// that runs threads. The OpenMP baseline runs in a child forked for each measurement (a warm-up
// region, then the timed one), so this process never starts an OpenMP team.
//
// Ratios read "times better than the baseline" (value / baseline: every figure is a rate).
//
// This file: the options, the order of the figure families and the end of the run (JSON). The
// rounds, the forked baselines and the figures have a file each (fill_sweep.hpp lists them).
//
//   fill_sweep [--workers-list 1,2,4,8] [--gib 1] [--rounds 5] [--quick] [--json FILE]
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "fill_sweep.hpp"

namespace fill_sweep_bench {
namespace {

// The flags of the program.
struct options {
    std::vector<int> workers{1, 2, 4, 8};
    double gib = 1;
    run_options run;
};

// Parses the command line (--quick: 0.125 GiB and 3 rounds, unless given).
options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "fill_sweep: for_each filling an array with 1, 2, 4, 8 workers, against OpenMP "
        "threads, forked children and memset"};
    app.add_option("--workers-list", o.workers, "worker counts, comma-separated")
        ->delimiter(',')
        ->check(CLI::Range(1, 256));
    const CLI::Option* gib =
        app.add_option("--gib", o.gib, "size of the array in GiB")->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (gib->count() == 0) o.gib = 0.125;
        if (!o.run.rounds_given) o.run.rounds = 3;
    }
    return o;
}

// The items, each after the first preceded by `separator`.
std::string join(const std::vector<int>& items, const char* separator) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.append(separator);
        out.append(std::to_string(items[i]));
    }
    return out;
}

// The array's size in bytes.
double bytes_of(const context& ctx) { return double(ctx.rows * ctx.cols * sizeof(double)); }

// The first line: the worker counts and the run's shape.
void print_header(const context& ctx) {
    std::printf(
        "fill sweep: workers %s; %d rounds, interleaved; array %zu x %zu float64 "
        "(%.3f GiB); %zu usable cores\n",
        join(ctx.workers, ",").c_str(), ctx.rounds, ctx.rows, ctx.cols,
        bytes_of(ctx) / double(1 << 30), shmpool::process_pool::usable_cores());
    std::fflush(stdout);
}

// The run's configuration, as written in the JSON.
json_config json_configuration(const context& ctx, bool quick, double seconds) {
    return {{"gib", json_number(bytes_of(ctx) / double(1 << 30))},
            {"rows", ctx.rows},
            {"cols", ctx.cols},
            {"rounds", ctx.rounds},
            {"quick", quick},
            {"workers", ctx.workers},
            {"usable_cores", shmpool::process_pool::usable_cores()},
            {"seconds", json_number(seconds)}};
}

}  // namespace
}  // namespace fill_sweep_bench

int main(int argc, char** argv) try {
    using namespace fill_sweep_bench;
    const options opt = parse(argc, argv);

    // The pools come first, one per worker count, before anything could start a thread.
    std::vector<std::unique_ptr<shmpool::process_pool>> pools;
    for (int w : opt.workers) pools.push_back(std::make_unique<shmpool::process_pool>(w));
    array_names guard("shmpool_bench_fill_sweep");

    // 2520 rows: divisible by 1 to 10 workers, so that every static share is the same size.
    const std::size_t rows = 2520;
    const std::size_t cols =
        std::max<std::size_t>(1, static_cast<std::size_t>(opt.gib * double(1 << 30)) / 8 / rows);
    const context ctx{.pools = pools,
                      .guard = guard,
                      .workers = opt.workers,
                      .rows = rows,
                      .cols = cols,
                      .gb = double(rows * cols * sizeof(double)) / 1e9,
                      .rounds = opt.run.rounds};
    const auto started = clock_type::now();
    print_header(ctx);

    sweep_points pts = make_points(opt.workers);
    const std::vector<const point*> view = pts.view();
    run_warm_fill(ctx, pts);
    print_section(warm_section, view);
    std::printf("(%.1f s so far)\n", seconds_since(started));

    run_first_touch(ctx, pts);
    print_section(touch_section, view);

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s\n", total);
    if (!opt.run.json.empty()) {
        write_json(opt.run.json, json_configuration(ctx, opt.run.quick, total), view);
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fill_sweep: %s\n", e.what());
    return 1;
}
