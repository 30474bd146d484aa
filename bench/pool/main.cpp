// process_pool against the baselines it is judged by, measured in the same run, interleaved round
// by round (median, min and max over the rounds, and the ratio to the baseline):
//
//   1. warm fill    a second (and later) for_each writing every element of a GiB-sized array,
//                   against an OpenMP `parallel for` with 2 threads in the parent over the same
//                   array, both warmed first;
//   2. first touch  the pool's first for_each over a fresh array the parent created and filled,
//                   with and without call_options::touch_rows, against 2 children forked to
//                   write their half and _exit (what multiprocessing.Pool's fork does);
//   3. dispatch     empty tasks at chunk 1, 100 and automatic, against multiprocessing.Pool(2).map
//                   of a no-op at chunksize 1, 100 and 10,000 (bench/python_pool.py, run here);
//   4. latency      an empty for_each(0, 4) round trip with 4 workers, against Pool(4).apply;
//   5. memory       each worker's USS (Private_Clean + Private_Dirty) after the warm fills.
//
// Ratios read "times better than the baseline": value / baseline for rates, baseline / value
// for times, so > 1 always means the pool is ahead.
//
// This file: the options, the order of the phases, the printed sections and the JSON. Each
// phase has a file of its own (pool.hpp lists them).
//
//   pool [--gib 2] [--rounds 5] [--quick] [--json FILE]
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>

#include "pool.hpp"

namespace pool_bench {
namespace {

// The flags of the program.
struct options {
    double gib = 2;
    run_options run;
};

// Parses the command line (--quick: 0.125 GiB and 2 rounds, unless given).
options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "pool: the process pool against OpenMP, fork and multiprocessing.Pool (warm "
        "fill, first touch, dispatch, latency, worker memory)"};
    const CLI::Option* gib =
        app.add_option("--gib", o.gib, "size of the array in GiB")->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (gib->count() == 0) o.gib = 0.125;
        if (!o.run.rounds_given) o.run.rounds = 2;
    }
    return o;
}

// The array's shape: 2048 rows, and as many columns as fit in --gib (at least 1).
std::size_t columns_for(double gib, std::size_t rows) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(gib * double(1 << 30)) / 8 / rows);
}

// The array's size in bytes.
double bytes_of(const context& ctx) { return double(ctx.rows * ctx.cols * sizeof(double)); }

// The first lines: the run's shape, and what ratios mean.
void print_header(const context& ctx) {
    std::printf(
        "shmpool process_pool benchmark: %d rounds, interleaved; array %zu x %zu float64 "
        "(%.3f GiB); %zu usable cores; OpenMP max threads %d\n",
        ctx.rounds, ctx.rows, ctx.cols, bytes_of(ctx) / double(1 << 30),
        shmpool::process_pool::usable_cores(), omp_get_max_threads());
    std::printf(
        "ratio = times better than the baseline (value/baseline for rates, "
        "baseline/value for times)\n");
    std::fflush(stdout);
}

// The time since the start, after a section.
void print_elapsed(clock_type::time_point started) {
    std::printf("(%.1f s so far)\n", seconds_since(started));
    std::fflush(stdout);
}

// Section 5 (measured with section 1), printed last, and what its figures mean.
void print_memory_section(const std::string& memory_error) {
    print_section(memory_section);
    if (!memory_error.empty()) std::printf("memory figures missing: %s\n", memory_error.c_str());
    std::printf(
        "(memory: USS target checked on the largest round; 'private anonymous' is "
        "min(Anonymous, Private_*) per mapping of /proc/PID/smaps)\n");
}

// The run's configuration, as written in the JSON.
json_config json_configuration(const context& ctx, const dispatch_sizes& n, double seconds) {
    return {{"gib", json_number(bytes_of(ctx) / double(1 << 30))},
            {"rows", ctx.rows},
            {"cols", ctx.cols},
            {"rounds", ctx.rounds},
            {"quick", ctx.quick},
            {"usable_cores", shmpool::process_pool::usable_cores()},
            {"dispatch_tasks", {n.n1, n.n100, n.nauto}},
            {"latency_calls", n.lat_calls},
            {"latency_warmup_calls", n.lat_warmup},
            {"seconds", json_number(seconds)}};
}

// Writes the figures and `config` to `path`, for bench/report.py.
void write_json(const std::string& path, const json_config& config) {
    write_json_file(path, figures_document("pool", config));
}

}  // namespace
}  // namespace pool_bench

int main(int argc, char** argv) try {
    using namespace pool_bench;
    const options opt = parse(argc, argv);

    // The pools come first: they refuse to fork once OpenMP has started its threads.
    shmpool::process_pool pool2(2);
    shmpool::process_pool pool4(4);
    array_names guard("shmpool_bench_pool");

    const std::size_t rows = 2048;
    const std::size_t cols = columns_for(opt.gib, rows);
    const context ctx{.pool2 = pool2,
                      .pool4 = pool4,
                      .guard = guard,
                      .rows = rows,
                      .cols = cols,
                      .gb = double(rows * cols * sizeof(double)) / 1e9,
                      .rounds = opt.run.rounds,
                      .quick = opt.run.quick};
    const auto started = clock_type::now();
    print_header(ctx);

    const std::string memory_error = run_warm_fill(ctx);  // figures 1 and 5
    print_section(warm_section);
    print_elapsed(started);

    run_first_touch(ctx);  // figure 2
    print_section(touch_section);
    print_elapsed(started);

    const dispatch_sizes n = dispatch_sizes_for(opt.run.quick);
    run_dispatch_and_latency(ctx, n);  // figures 3 and 4
    print_section(dispatch_section);
    print_section(latency_section);
    print_memory_section(memory_error);

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s\n", total);
    if (!opt.run.json.empty()) {
        write_json(opt.run.json, json_configuration(ctx, n, total));
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "pool: %s\n", e.what());
    return 1;
}
