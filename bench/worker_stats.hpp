// What the pool benchmarks (bench/pool, bench/first_day) read about their processes: the minor
// page faults of a pool's workers (/proc/PID/stat), of this process and of its reaped children
// (getrusage); and, after the parent removed an array, letting the workers drop their mapping
// before the next timed call.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <shmpool/process_pool.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "bench_support.hpp"

namespace bench {

/// Minor page faults so far of one process (/proc/PID/stat field 10).
inline double minor_faults_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t paren = text.rfind(')');
    if (paren == std::string::npos) return no_value;
    std::istringstream fields(text.substr(paren + 1));
    std::string field;
    for (int i = 0; i < 8 && fields >> field; ++i) {
    }
    return std::strtod(field.c_str(), nullptr);  // the 8th after ')': minflt
}

/// Minor page faults so far of the pool's workers.
inline double worker_faults(const shmpool::process_pool& pool) {
    double n = 0;
    for (int pid : pool.worker_pids()) n += minor_faults_of(pid);
    return n;
}

/// Minor page faults so far of RUSAGE_SELF (this process, all threads) or RUSAGE_CHILDREN (its
/// reaped children).
inline double faults_of(int who) {
    rusage u{};
    ::getrusage(who, &u);
    return double(u.ru_minflt);
}

/// After the parent removed `name`: lets the workers drop their mapping (and the kernel free the
/// memory) before the next timed call, so that the next figure does not pay for this one.
/// Returns how long the first empty call took, in ms: that call is where the workers unmap it.
inline double let_workers_release(shmpool::process_pool& pool, const std::string& name) {
    shmpool::call_options quiet;
    quiet.show_progress = shmpool::progress::never;
    double first_ms = no_value;
    for (int attempt = 0; attempt < 20 && any_worker_maps(pool, name); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        const auto t = clock_type::now();
        pool.for_each(
            0, pool.size(), [](std::size_t) {}, quiet);
        if (attempt == 0) first_ms = seconds_since(t) * 1e3;
    }
    if (any_worker_maps(pool, name))
        std::fprintf(stderr, "warning: the workers still map %s\n", name.c_str());
    return first_ms;
}

}  // namespace bench
