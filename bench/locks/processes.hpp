// bench/locks: the processes of a measurement (each a bench::fork_child, bench_support.hpp);
// run_processes times `procs` of them from the first fork to the last join; the gate in
// shared memory starts them together (start_at_gate, gated_processes), and gated_threads does
// the same with threads. The shared area holds the locks of figures 1 and 4 and the gate.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <shmpool/shmpool.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "locks.hpp"

namespace locks {

// Waits for the given children; throws if one failed. A blocking waitpid, not
// shmpool::reap_child: the callers time the wait, and reap_child polls (up to 20 ms apart).
inline void join(const std::vector<pid_t>& pids, const char* what) {
    bool ok = true;
    for (pid_t pid : pids) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    if (!ok) throw std::runtime_error(std::string(what) + ": a process failed");
}

// Forks `procs` processes that each run work(i), joins them; returns the wall time, first fork
// to last join.
template <class Work>
double run_processes(const char* what, Work work) {
    std::vector<pid_t> pids;
    const auto start = clock_type::now();
    try {
        for (int i = 0; i < procs; ++i) pids.push_back(fork_child([&] { work(i); }));
    } catch (...) {
        for (pid_t pid : pids) ::kill(pid, SIGKILL);
        join(pids, what);
        throw;
    }
    join(pids, what);
    return seconds_since(start);
}

// ---------------------------------------------------------------------------------------------
// The shared area: the locks of figures 1 and 4 and the gate of the contended runs, in one
// segment (its data is page-aligned). Each object is constructed afresh before each run.

struct alignas(64) gate {
    std::atomic<int> ready{0};
    alignas(64) shmpool::event start;
    alignas(64) shmpool::event stop;
    struct alignas(64) slot {
        std::atomic<long> ops{0};
    };
    slot done[procs];
};

struct shared_area {
    alignas(64) shmpool::robust_mutex counter_mutex;  // figure 1: raw_value under a mutex
    alignas(64) shmpool::robust_mutex mutex;
    alignas(64) shmpool::shared_rwlock rwlock;
    alignas(64) shmpool::semaphore sem{1};
    alignas(64) gate g;
};

template <class T, class... Args>
T& renew(T& object, Args&&... args) {
    std::destroy_at(&object);
    return *std::construct_at(&object, std::forward<Args>(args)...);
}

// ---------------------------------------------------------------------------------------------
// Started together

// Forks `procs` processes that wait at the gate and then run body(i); opens the gate once all
// of them wait. Returns their PIDs and the time the gate opened. If something fails before,
// lets them go (body sees the stop flag raised), joins them and throws.
template <class Body>
std::pair<std::vector<pid_t>, clock_type::time_point> start_at_gate(gate& g, Body body) {
    renew(g);
    std::vector<pid_t> pids;
    try {
        for (int i = 0; i < procs; ++i)
            pids.push_back(fork_child([&, i] {
                g.ready.fetch_add(1);
                g.start.wait();
                body(i);
            }));
        const auto waiting = clock_type::now();
        while (g.ready.load() < procs) {
            if (seconds_since(waiting) > 30) throw std::runtime_error("processes did not start");
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    } catch (...) {
        g.stop.set();
        g.start.set();
        try {
            join(pids, "gated run");
        } catch (...) {
        }
        throw;
    }
    const auto opened = clock_type::now();
    g.start.set();
    return {pids, opened};
}

inline long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

// Runs work(i) in `procs` processes started together at the gate; returns the seconds from the
// gate's opening to the last one's end of work (fork and exit left out: CLOCK_MONOTONIC is one
// clock for all processes).
template <class Work>
double gated_processes(gate& g, Work work) {
    const auto [pids, opened] = start_at_gate(g, [&](int i) {
        work(i);
        g.done[i].ops.store(now_ns());
    });
    join(pids, "gated run");
    long last = 0;
    for (const auto& d : g.done) last = std::max(last, d.ops.load());
    return double(last -
                  std::chrono::duration_cast<std::chrono::nanoseconds>(opened.time_since_epoch())
                      .count()) /
           1e9;
}

// The same with `procs` threads of this process: they start together once all exist.
template <class Work>
double gated_threads(Work work) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<long> finished(procs);
    std::vector<std::thread> threads;
    for (int t = 0; t < procs; ++t)
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            go.wait(false);
            work(t);
            finished[t] = now_ns();
        });
    while (ready.load() < procs) std::this_thread::yield();
    const long opened = now_ns();
    go.store(true);
    go.notify_all();
    for (std::thread& t : threads) t.join();
    return double(*std::max_element(finished.begin(), finished.end()) - opened) / 1e9;
}

}  // namespace locks
