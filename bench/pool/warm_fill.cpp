// bench/pool, figures 1 and 5: the warm fill (the pool's second and later for_each over an array
// its workers wrote before, with the dynamic and static_ schedules and with touch_rows, against
// an OpenMP `parallel for` with 2 threads in this process over the same array, all warmed
// first), with the minor page faults of each; and after each round, each worker's memory.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "pool.hpp"

namespace pool_bench {
namespace {

// Writes v over a rows x cols array with an OpenMP `parallel for` of 2 threads, in this process.
void omp_fill(double* p, std::size_t rows, std::size_t cols, double v) {
    const auto n = static_cast<std::ptrdiff_t>(rows);
#pragma omp parallel for num_threads(2) schedule(static)
    for (std::ptrdiff_t r = 0; r < n; ++r)
        std::fill_n(p + static_cast<std::size_t>(r) * cols, cols, v);
}

// The series of figures 1 and 5, one value per round.
struct warm_series {
    series pool_fill{"pool for_each (default: dynamic)", "GB/s", true, {}};
    series pool_fill_static{"pool for_each (schedule::static_)", "GB/s", true, {}};
    series pool_fill_touch{"pool for_each (dynamic + touch_rows)", "GB/s", true, {}};
    series flt_dyn{"  minor faults, workers: dynamic", "faults", false, {}};
    series flt_static{"  minor faults, workers: static_", "faults", false, {}};
    series flt_touch{"  minor faults, workers: dynamic + touch_rows", "faults", false, {}};
    series flt_omp{"  minor faults, OpenMP (this process)", "faults", false, {}};
    series omp_fill_s{"OpenMP parallel for, 2 threads", "GB/s", true, {}};
    std::vector<series> mem;  // per worker: USS, RSS, Anonymous, private anonymous
    std::string memory_error;
};

// The memory series of `workers` workers: per worker USS, RSS, Anonymous, private anonymous.
std::vector<series> memory_series(std::size_t workers) {
    std::vector<series> mem;
    for (std::size_t w = 0; w < workers; ++w) {
        const std::string who = "worker " + std::to_string(w) + " ";
        mem.push_back({who + "USS", "KiB", false, {}});
        mem.push_back({who + "RSS", "KiB", false, {}});
        mem.push_back({who + "Anonymous (incl. CoW-shared)", "KiB", false, {}});
        mem.push_back({who + "private anonymous", "KiB", false, {}});
    }
    return mem;
}

// Round r of figure 1: the pool's three fills of `a` (dynamic, static_, dynamic + touch_rows)
// and OpenMP's, each timed with its minor faults and checked, in an order rotated by r.
void warm_fill_round(const context& ctx, array& a, int r, warm_series& s) {
    shmpool::process_pool& pool2 = ctx.pool2;
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const double gb = ctx.gb;
    const shmpool::call_options quiet = quiet_options();
    const double v = 2.0 + r;
    const std::vector<std::function<void()>> steps = {
        [&] {
            const double f0 = worker_faults(pool2);
            const auto t = clock_type::now();
            pool2.for_each(0, rows, row_writer{a, cols, v}, quiet);
            s.pool_fill.values.push_back(gb / seconds_since(t));
            s.flt_dyn.values.push_back(worker_faults(pool2) - f0);
            spot_check(a.data(), rows, cols, v, "pool fill");
        },
        [&] {
            const double f0 = worker_faults(pool2);
            const auto t = clock_type::now();
            pool2.for_each(0, rows, row_writer{a, cols, v + 0.5},
                           quiet_options(shmpool::schedule::static_));
            s.pool_fill_static.values.push_back(gb / seconds_since(t));
            s.flt_static.values.push_back(worker_faults(pool2) - f0);
            spot_check(a.data(), rows, cols, v + 0.5, "pool static fill");
        },
        [&] {
            const double f0 = worker_faults(pool2);
            const auto t = clock_type::now();
            pool2.for_each(0, rows, row_writer{a, cols, v + 0.75}, quiet_options().touch_rows(a));
            s.pool_fill_touch.values.push_back(gb / seconds_since(t));
            s.flt_touch.values.push_back(worker_faults(pool2) - f0);
            spot_check(a.data(), rows, cols, v + 0.75, "pool fill with touch_rows");
        },
        [&] {
            const double f0 = faults_of(RUSAGE_SELF);
            const auto t = clock_type::now();
            omp_fill(a.data(), rows, cols, v + 0.25);
            s.omp_fill_s.values.push_back(gb / seconds_since(t));
            s.flt_omp.values.push_back(faults_of(RUSAGE_SELF) - f0);
            spot_check(a.data(), rows, cols, v + 0.25, "OpenMP fill");
        },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
}

// Figure 5 after a round's warm fills: each worker's memory (NaN for a worker that is gone).
// When smaps cannot be read, keeps the reason in s.memory_error.
void record_worker_memory(const shmpool::process_pool& pool, warm_series& s) {
    try {
        const auto now_pids = pool.worker_pids();
        for (std::size_t w = 0; w < s.mem.size() / 4; ++w) {
            worker_memory m{no_value, no_value, no_value, no_value, no_value};
            if (w < now_pids.size()) m = memory_of(now_pids[w]);
            s.mem[4 * w + 0].values.push_back(m.uss_kib);
            s.mem[4 * w + 1].values.push_back(m.rss_kib);
            s.mem[4 * w + 2].values.push_back(m.anonymous_kib);
            s.mem[4 * w + 3].values.push_back(m.private_anonymous_kib);
        }
    } catch (const std::exception& e) {
        s.memory_error = e.what();
    }
}

// Measures figures 1 and 5 on one array, created and filled by the parent: first the pool's
// first for_each (its workers map the rows they write) and OpenMP's first region (its team
// starts), not timed, so that every timed call is a second or later one; then the rounds; then
// the array is removed and released by the workers.
warm_series measure_warm_fill(const context& ctx) {
    warm_series s;
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const std::string name = ctx.guard.make_name("warm");
    array a = array::create(name, {rows, cols});
    std::fill_n(a.data(), rows * cols, 42.0);  // the parent fills, like the book
    ctx.pool2.for_each(0, rows, row_writer{a, cols, 1.0}, quiet_options());
    omp_fill(a.data(), rows, cols, 1.0);
    s.mem = memory_series(ctx.pool2.worker_pids().size());
    for (int r = 0; r < ctx.rounds; ++r) {
        warm_fill_round(ctx, a, r, s);
        record_worker_memory(ctx.pool2, s);  // 5. memory: after this round's warm-fill calls
    }
    ctx.guard.remove(name);
    let_workers_release(ctx.pool2, name);
    return s;
}

// Adds the figures of sections 1 and 5 (with their targets), and says on stderr why memory
// figures are missing.
void add_warm_fill_figures(const warm_series& s) {
    add_figure(warm_section, s.omp_fill_s);
    {
        figure& f = add_figure(warm_section, s.pool_fill, &s.omp_fill_s);
        set_target(f, ">= 0.9x", f.ratio, 0.9, true);
    }
    add_figure(warm_section, s.pool_fill_static, &s.omp_fill_s);
    add_figure(warm_section, s.pool_fill_touch, &s.omp_fill_s);
    for (const series* f : {&s.flt_omp, &s.flt_dyn, &s.flt_static, &s.flt_touch})
        add_figure(warm_section, *f);
    if (!s.memory_error.empty()) std::fprintf(stderr, "memory: %s\n", s.memory_error.c_str());
    for (std::size_t i = 0; i < s.mem.size(); ++i) {
        figure& f = add_figure(memory_section, s.mem[i]);
        if (i % 4 == 0) set_target(f, "<= 1024 KiB", f.st.max, 1024, false);
    }
}

}  // namespace

std::string run_warm_fill(const context& ctx) {
    const warm_series s = measure_warm_fill(ctx);
    add_warm_fill_figures(s);
    return s.memory_error;
}

}  // namespace pool_bench
