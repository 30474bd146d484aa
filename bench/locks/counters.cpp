// bench/locks, figures 1 and 2: shared counters.
//
//   1. value<long> incremented under its own lock (with_lock) by 4 processes, at the run's size
//      and at the book's 4 x 1,000, and raw_value<long> under a separate robust_mutex;
//   2. raw_value<long>::fetch_add by 4 processes (the handle copied across fork, and opened in
//      each process), against std::atomic<long>::fetch_add by 4 threads of one forked process.
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <shmpool/shmpool.hpp>
#include <stdexcept>
#include <string>

#include "cleanup.hpp"
#include "locks.hpp"
#include "processes.hpp"

namespace locks {
namespace {

void check_total(const char* what, long total, long expected) {
    if (total != expected)
        throw std::runtime_error(std::string(what) + ": expected " + std::to_string(expected) +
                                 ", got " + std::to_string(total));
}

// Seconds for `procs` x `count` increments of a value<long> under its own lock.
double value_counter(cleanup& made, long count) {
    const std::string name = made.segment("value");
    auto v = shmpool::value<long>::create(name, 0);
    const double s = run_processes("value counter", [&](int) {
        for (long i = 0; i < count; ++i) v.with_lock([](long& x) { ++x; });
    });
    const long total = v.load();
    made.remove_segment(name);
    check_total("value counter", total, procs * count);
    return s;
}

// Seconds for `procs` x `count` increments of a raw_value<long> under a robust_mutex.
double raw_value_counter(cleanup& made, shmpool::robust_mutex& mutex, long count) {
    const std::string name = made.segment("raw");
    auto v = shmpool::raw_value<long>::create(name, 0);
    shmpool::robust_mutex& m = renew(mutex);
    const double s = run_processes("raw_value counter", [&](int) {
        for (long i = 0; i < count; ++i) {
            std::lock_guard held(m);
            *v.data() += 1;
        }
    });
    const long total = v.load();
    made.remove_segment(name);
    check_total("raw_value counter", total, procs * count);
    return s;
}

// Seconds for `procs` processes x `count` fetch_adds on one raw_value<long>, started together.
double fetch_add_processes(cleanup& made, gate& g, long count, bool open_in_child) {
    const std::string name = made.segment("add");
    auto v = shmpool::raw_value<long>::create(name, 0);
    double s = 0;
    if (open_in_child)
        s = gated_processes(g, [&](int) {
            const auto mine = shmpool::raw_value<long>::open(name);
            for (long i = 0; i < count; ++i) mine.fetch_add(1);
        });
    else
        s = gated_processes(g, [&](int) {
            for (long i = 0; i < count; ++i) v.fetch_add(1);
        });
    const long total = v.load();
    made.remove_segment(name);
    if (total != procs * count) throw std::runtime_error("fetch_add: processes lost adds");
    return s;
}

// Nanoseconds for `procs` threads x `count` fetch_adds on one std::atomic<long>. The threads
// run in a forked child (this process stays single-threaded), which writes their time in the
// gate's first slot.
double fetch_add_threads_ns(gate& g, long count) {
    renew(g);
    const pid_t child = fork_child([&] {
        struct alignas(64) counter {
            std::atomic<long> a{0};
        };
        auto c = std::make_unique<counter>();
        const double s = gated_threads([&](int) {
            for (long i = 0; i < count; ++i) c->a.fetch_add(1);
        });
        if (c->a.load() != procs * count) throw std::runtime_error("fetch_add: threads lost adds");
        g.done[0].ops.store(std::llround(s * 1e9));
    });
    join({child}, "fetch_add threads");
    return double(g.done[0].ops.load());
}

}  // namespace

void counter_step(const context& ctx, counter_series& s) {
    const long n = ctx.n.value_count, book = ctx.n.book_count;
    const double big_s = value_counter(ctx.made, n);
    s.cpp_value.values.push_back(big_s / double(procs * n) * 1e9);
    const double book_s = value_counter(ctx.made, book);
    s.cpp_book.values.push_back(book_s / double(procs * book) * 1e6);
    s.cpp_book_ms.values.push_back(book_s * 1e3);
    const double raw_s = raw_value_counter(ctx.made, ctx.area.counter_mutex, n);
    s.cpp_raw.values.push_back(raw_s / double(procs * n) * 1e9);
}

void fetch_add_step(const context& ctx, fetch_add_series& s) {
    const long count = ctx.n.add_count;
    const double n = double(procs) * double(count);
    const double processes = fetch_add_processes(ctx.made, ctx.area.g, count, false);
    s.processes.values.push_back(processes / n * 1e9);
    const double opened = fetch_add_processes(ctx.made, ctx.area.g, count, true);
    s.processes_open.values.push_back(opened / n * 1e9);
    s.threads.values.push_back(fetch_add_threads_ns(ctx.area.g, count) / n);
}

}  // namespace locks
