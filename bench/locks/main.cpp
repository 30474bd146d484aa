// shmpool's shared counters and locks against the baselines they are judged by, measured in the
// same run, interleaved round by round (median, min and max over the rounds, and the ratio to
// the baseline):
//
//   1. value counter   value<long> incremented under its own lock (with_lock) by 4 processes x
//                      1,000,000, against multiprocessing.Value('l') under get_lock() by 4 x
//                      100,000 (per increment); both also at the book's 4 x 1,000, where
//                      starting and joining the processes dominates; and raw_value<long> under
//                      a separate robust_mutex against RawValue('l') under a Lock;
//   2. fetch_add       raw_value<long>::fetch_add by 4 processes x 10,000,000, against
//                      std::atomic<long>::fetch_add by 4 threads of one (forked) process;
//   3. file counter    a number kept as text in a file under /tmp, opened, read and rewritten
//                      under file_lock by 4 processes x 1,000 (as demos/counter_file_lock.cpp
//                      does: 20 zero-padded digits rewritten in place), against the book's
//                      Python counter under fcntl.flock (file objects; the file truncated and
//                      rewritten, which on ext4 waits for the disk at close: the issue's
//                      baseline), and against Python with the demo's protocol and system calls;
//                      and the truncating protocol on both sides, for reference;
//   4. lock rates      lock+unlock pairs per second, uncontended and with 4 processes, of
//                      robust_mutex, shared_rwlock (exclusive, shared), semaphore and file_lock,
//                      against multiprocessing.Lock, multiprocessing.Semaphore and fcntl.flock.
//
// The Python figures come from bench/python_counters.py, run once a round with the python3 found
// at configure time (SHMPOOL_PYTHON) (fork start method). Counter times are wall times from the
// first fork to the last join, on both sides. Ratios read "times better than the baseline":
// value / baseline for rates, baseline / value for times, so > 1 always means shmpool is ahead.
//
// Everything it creates (segments in /dev/shm, files in /tmp) is removed at the end, also when
// it fails or is interrupted (SIGINT, SIGTERM). The benchmark process itself stays
// single-threaded: the threads of figure 2 run in a forked child.
//
// This file: the options, the rounds and the end of the run (clean-up, JSON). Each step of a
// round has a file of its own (locks.hpp lists them).
//
//   locks [--rounds 5] [--quick] [--json FILE]
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <new>
#include <shmpool/shared_array.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cleanup.hpp"
#include "locks.hpp"
#include "processes.hpp"

namespace locks {

sizes sizes_for(bool quick) {
    return {.value_count = quick ? 200'000 : 1'000'000,
            .book_count = 1'000,
            .add_count = quick ? 2'000'000 : 10'000'000,
            .file_count = quick ? 250 : 1'000,
            .rate_alone = quick ? 0.05 : 0.2,
            .rate_together = quick ? 0.1 : 0.4};
}

namespace {

run_options parse(int argc, char** argv) {
    run_options o;
    CLI::App app{
        "locks: shmpool's counters and locks against Python's multiprocessing, "
        "fcntl.flock and std::atomic threads"};
    add_run_options(app, o);
    parse_run_options(app, o, argc, argv);
    if (o.quick && !o.rounds_given) o.rounds = 2;
    return o;
}

void print_header(int rounds, long cpus) {
    std::printf(
        "shmpool locks benchmark: %d rounds, interleaved; %d processes (and threads) on "
        "%ld online CPUs%s\n",
        rounds, procs, cpus,
        cpus < procs ? " (oversubscribed: as much for processes as for threads)" : "");
    std::printf(
        "ratio = times better than the baseline (value/baseline for rates, "
        "baseline/value for times)\n");
    std::fflush(stdout);
}

/// The shared area (locks and the gate of the contended runs), constructed in `memory`.
shared_area& construct_area(const shmpool::shared_array<std::uint8_t>& memory) {
    if (reinterpret_cast<std::uintptr_t>(memory.data()) % alignof(shared_area) != 0)
        throw std::runtime_error("the shared area is not aligned");
    return *new (memory.data()) shared_area;
}

void run_rounds(const context& ctx, all_series& s, int rounds) {
    for (int r = 0; r < rounds; ++r) {
        const auto round_start = clock_type::now();
        const std::vector<std::function<void()>> steps = {
            [&] { python_step(ctx, s); },  // Python: all its figures in one run
            [&] { counter_step(ctx, s.counters); },
            [&] { fetch_add_step(ctx, s.adds); },
            [&] { file_counter_step(ctx, s.files); },
            [&] { lock_rate_step(ctx, s.rates); },
        };
        for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
        std::printf("round %d/%d: %.1f s\n", r + 1, rounds, seconds_since(round_start));
        std::fflush(stdout);
    }
}

void write_json(const std::string& path, const json_config& config, const rate_series& rates) {
    json doc = figures_document("locks", config);
    doc["lock_table"] = lock_table_json(lock_table(rates));
    write_json_file(path, doc);
}

json_config json_configuration(const run_options& opt, const sizes& n, long cpus,
                               const python_info& py, double seconds) {
    return {{"rounds", opt.rounds},
            {"quick", opt.quick},
            {"processes", procs},
            {"online_cpus", cpus},
            {"value_count", n.value_count},
            {"python_value_count", json_number(py.value_count)},
            {"book_count", n.book_count},
            {"fetch_add_count", n.add_count},
            {"file_count", n.file_count},
            {"rate_seconds_uncontended", json_number(n.rate_alone)},
            {"rate_seconds_contended", json_number(n.rate_together)},
            {"python", py.version},
            {"seconds", json_number(seconds)}};
}

}  // namespace
}  // namespace locks

int main(int argc, char** argv) try {
    using namespace locks;
    const run_options opt = parse(argc, argv);
    cleanup made;
    const auto started = clock_type::now();
    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    print_header(opt.rounds, cpus);

    const std::string area_name = made.segment("area");
    const auto area_memory =
        shmpool::shared_array<std::uint8_t>::create(area_name, {sizeof(shared_area)});
    shared_area& area = construct_area(area_memory);
    on_signal::install();
    const context ctx{.n = sizes_for(opt.quick),
                      .quick = opt.quick,
                      .made = made,
                      .area = area,
                      .counter_path = made.file("counter"),
                      .counter_lock_path = made.file("counter.lock"),
                      .rates_lock_path = made.file("rates.lock")};

    all_series s;
    run_rounds(ctx, s, opt.rounds);
    report(s, ctx.n, cpus);

    // Clean up, and check.
    std::destroy_at(&area);
    made.remove_segment(area_name);
    for (const std::string& path : {ctx.counter_path, ctx.counter_lock_path, ctx.rates_lock_path})
        made.remove_file(path);
    const auto left = made.leftovers();
    for (const std::string& path : left)
        std::fprintf(stderr, "warning: left behind: %s\n", path.c_str());

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s%s\n", total,
                left.empty() ? "; nothing left in /dev/shm or /tmp" : "");
    if (!opt.json.empty()) {
        write_json(opt.json, json_configuration(opt, ctx.n, cpus, s.python, total), s.rates);
        std::printf("wrote %s\n", opt.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "locks: %s\n", e.what());
    return 1;
}
