// bench/locks, figure 4: lock+unlock pairs per second, uncontended (this process alone) and
// with 4 processes together, of robust_mutex, shared_rwlock (exclusive, shared), semaphore and
// file_lock; and the table that sets them beside Python's equivalents.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <shmpool/shmpool.hpp>
#include <string>
#include <thread>
#include <vector>

#include "locks.hpp"
#include "processes.hpp"

namespace locks {
namespace {

constexpr int batch = 64;  // pairs between two looks at the clock or the stop flag

// Pairs per second of acquire+release in this process alone, for about `seconds`.
template <class Acquire, class Release>
double uncontended_rate(Acquire acquire, Release release, double seconds) {
    for (int i = 0; i < 1000; ++i) {  // warm-up
        acquire();
        release();
    }
    long n = 0;
    const auto start = clock_type::now();
    for (;;) {
        for (int i = 0; i < batch; ++i) {
            acquire();
            release();
        }
        n += batch;
        const double s = seconds_since(start);
        if (s >= seconds) return double(n) / s;
    }
}

// In a contender: pairs until the stop flag is raised.
template <class Acquire, class Release>
long contend(Acquire acquire, Release release, const shmpool::event& stop) {
    long n = 0;
    while (!stop.is_set()) {
        for (int i = 0; i < batch; ++i) {
            acquire();
            release();
        }
        n += batch;
    }
    return n;
}

// Pairs per second of `procs` processes together for about `seconds`: they start together at
// the gate, loop until it says stop, and report their counts. body(stop) runs in each process
// (after the fork: a file_lock is made there) and returns its count.
template <class Body>
double contended_rate(gate& g, double seconds, Body body) {
    const auto [pids, opened] = start_at_gate(g, [&](int i) { g.done[i].ops.store(body(g.stop)); });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    g.stop.set();
    const double elapsed = seconds_since(opened);
    join(pids, "contended run");
    long total = 0;
    for (const auto& d : g.done) total += d.ops.load();
    return double(total) / elapsed;
}

// Both rates of one lock: lock(l) and unlock(l) on the object `l` in shared memory.
template <class Lock, class Acquire, class Release>
void rates_of(const context& ctx, Lock& l, Acquire acquire, Release release, series& alone,
              series& together) {
    alone.values.push_back(
        uncontended_rate([&] { acquire(l); }, [&] { release(l); }, ctx.n.rate_alone));
    together.values.push_back(contended_rate(ctx.area.g, ctx.n.rate_together, [&](auto& stop) {
        return contend([&] { acquire(l); }, [&] { release(l); }, stop);
    }));
}

void file_lock_rates(const context& ctx, rate_series& s) {
    const std::string& path = ctx.rates_lock_path;
    double alone = no_value;
    {
        shmpool::file_lock l(path);
        alone = uncontended_rate([&] { l.lock(); }, [&] { l.unlock(); }, ctx.n.rate_alone);
    }  // closed before the contenders fork
    s.file_1.values.push_back(alone);
    s.file_4.values.push_back(contended_rate(ctx.area.g, ctx.n.rate_together, [&](auto& stop) {
        shmpool::file_lock l(path);  // one per process
        return contend([&] { l.lock(); }, [&] { l.unlock(); }, stop);
    }));
}

double median_of(const series* s) { return s ? summarize(s->values).median : no_value; }

}  // namespace

void lock_rate_step(const context& ctx, rate_series& s) {
    shared_area& area = ctx.area;
    const auto lock = [](auto& l) { l.lock(); };
    const auto unlock = [](auto& l) { l.unlock(); };
    const auto lock_shared = [](auto& l) { l.lock_shared(); };
    const auto unlock_shared = [](auto& l) { l.unlock_shared(); };
    const auto acquire = [](auto& l) { l.acquire(); };
    const auto release = [](auto& l) { l.release(); };
    rates_of(ctx, renew(area.mutex), lock, unlock, s.mutex_1, s.mutex_4);
    shmpool::shared_rwlock& rw = renew(area.rwlock);
    rates_of(ctx, rw, lock, unlock, s.rw_ex_1, s.rw_ex_4);
    rates_of(ctx, rw, lock_shared, unlock_shared, s.rw_sh_1, s.rw_sh_4);
    rates_of(ctx, renew(area.sem, 1u), acquire, release, s.sem_1, s.sem_4);
    file_lock_rates(ctx, s);
}

std::vector<lock_row> lock_table(const rate_series& s) {
    return {
        {"robust_mutex", &s.mutex_1, &s.mutex_4, "multiprocessing.Lock", &s.py_lock_1,
         &s.py_lock_4},
        {"shared_rwlock (exclusive)", &s.rw_ex_1, &s.rw_ex_4, "", nullptr, nullptr},
        {"shared_rwlock (shared)", &s.rw_sh_1, &s.rw_sh_4, "", nullptr, nullptr},
        {"semaphore acquire/release", &s.sem_1, &s.sem_4, "multiprocessing.Semaphore", &s.py_sem_1,
         &s.py_sem_4},
        {"file_lock", &s.file_1, &s.file_4, "fcntl.flock", &s.py_flock_1, &s.py_flock_4},
    };
}

void print_lock_table(const std::vector<lock_row>& rows) {
    std::printf("\n== lock+unlock pairs per second (medians; contended: %d processes together)\n",
                procs);
    std::printf("%-28s %14s %14s | %-27s %14s %14s\n", "lock", "uncontended", "contended",
                "Python equivalent", "uncontended", "contended");
    const auto cell = [](double x) {
        return std::isnan(x) ? std::string("-") : grouped(std::llround(x));
    };
    for (const lock_row& r : rows)
        std::printf("%-28s %14s %14s | %-27s %14s %14s\n", r.lock.c_str(),
                    cell(median_of(r.uncontended)).c_str(), cell(median_of(r.contended)).c_str(),
                    r.python.empty() ? "(none)" : r.python.c_str(),
                    cell(median_of(r.py_uncontended)).c_str(),
                    cell(median_of(r.py_contended)).c_str());
}

json lock_table_json(const std::vector<lock_row>& rows) {
    json out = json::array();
    for (const lock_row& r : rows)
        out.push_back({{"lock", r.lock},
                       {"uncontended", json_number(median_of(r.uncontended))},
                       {"contended", json_number(median_of(r.contended))},
                       {"python_equivalent", json_text_or_null(r.python)},
                       {"python_uncontended", json_number(median_of(r.py_uncontended))},
                       {"python_contended", json_number(median_of(r.py_contended))}});
    return {{"unit", "lock+unlock pairs per second (median)"},
            {"contended_processes", procs},
            {"rows", std::move(out)}};
}

}  // namespace locks
