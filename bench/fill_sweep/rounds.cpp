// bench/fill_sweep: the rounds of the two figure families, interleaved (each round runs every
// variant and baseline at every worker count, in an order rotated by the round). The warm fill
// writes one array that every pool wrote before; the first touch writes a fresh array each time.
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fill_sweep.hpp"

namespace fill_sweep_bench {
namespace {

// After a remove, lets the workers drop the array (they release removed arrays on a call at
// least 100 ms later) so the next figure does not pay for it.
void let_workers_release(shmpool::process_pool& pool, const std::string& name) {
    for (int attempt = 0; attempt < 20 && any_worker_maps(pool, name); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        pool.for_each(
            0, pool.size(), [](std::size_t) {}, quiet_options());
    }
    if (any_worker_maps(pool, name))
        std::fprintf(stderr, "warning: the workers still map %s\n", name.c_str());
}

// Quiet call options with schedule::static_ (each worker writes the same rows every time).
shmpool::call_options static_options() {
    shmpool::call_options o = quiet_options();
    o.kind = shmpool::schedule::static_;
    return o;
}

// Runs the steps of round r in an order rotated by the round (3 steps further each round).
void run_rotated(const std::vector<std::function<void()>>& steps, int r) {
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + std::size_t(r) * 3) % steps.size()]();
}

// Round r of the warm fill of `a`: memset, then per worker count the pool's static_ and dynamic
// fills and OpenMP's, each timed and checked.
void warm_fill_round(const context& ctx, array& a, int r, sweep_points& pts) {
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const double gb = ctx.gb;
    const shmpool::call_options quiet = quiet_options(), static_calls = static_options();
    const double v = 2.0 + r;
    std::vector<std::function<void()>> steps;
    steps.push_back([&] {
        const auto t = clock_type::now();
        std::memset(a.data(), 0, rows * cols * sizeof(double));
        pts.memset_pt->values.push_back(gb / seconds_since(t));
        spot_check(a.data(), rows, cols, 0.0, "memset");
    });
    for (std::size_t i = 0; i < ctx.workers.size(); ++i) {
        steps.push_back([&, i] {
            const auto t = clock_type::now();
            ctx.pools[i]->for_each(0, rows, row_writer{a, cols, v + 0.25}, static_calls);
            pts.warm[i]->values.push_back(gb / seconds_since(t));
            spot_check(a.data(), rows, cols, v + 0.25, pts.warm[i]->name);
        });
        steps.push_back([&, i] {
            const auto t = clock_type::now();
            ctx.pools[i]->for_each(0, rows, row_writer{a, cols, v + 0.5}, quiet);
            pts.warm_dyn[i]->values.push_back(gb / seconds_since(t));
            spot_check(a.data(), rows, cols, v + 0.5, pts.warm_dyn[i]->name);
        });
        steps.push_back([&, i] {
            pts.omp[i]->values.push_back(
                omp_fill_in_child(a.data(), rows, cols, ctx.workers[i], v + 0.75, gb));
            spot_check(a.data(), rows, cols, v + 0.75, pts.omp[i]->name);
        });
    }
    run_rotated(steps, r);
}

// A fresh array, created and filled by the parent (untimed); `timed` writes v everywhere and
// returns its GB/s, which go to `out`. Then the array is removed and, when `pool` wrote it,
// released by its workers.
void with_fresh_array(const context& ctx, const std::string& tag, double v, point& out,
                      shmpool::process_pool* pool, const std::function<double(array&)>& timed) {
    const std::string name = ctx.guard.make_name(tag);
    array a = array::create(name, {ctx.rows, ctx.cols});
    std::fill_n(a.data(), ctx.rows * ctx.cols, 42.0);
    out.values.push_back(timed(a));
    spot_check(a.data(), ctx.rows, ctx.cols, v, out.name);
    ctx.guard.remove(name);
    if (pool) let_workers_release(*pool, name);
}

// Round r of the first touch: per worker count, the pool's first call with touch_rows and the
// forked writers, each on a fresh array.
void first_touch_round(const context& ctx, int r, sweep_points& pts) {
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const double gb = ctx.gb;
    const double v = 3.0 + r;
    std::vector<std::function<void()>> steps;
    for (std::size_t i = 0; i < ctx.workers.size(); ++i) {
        steps.push_back([&, i] {
            with_fresh_array(ctx, "touch", v, *pts.touch[i], ctx.pools[i].get(), [&](array& a) {
                const auto t = clock_type::now();
                ctx.pools[i]->for_each(0, rows, row_writer{a, cols, v},
                                       quiet_options().touch_rows(a));
                return gb / seconds_since(t);
            });
        });
        steps.push_back([&, i] {
            with_fresh_array(ctx, "fork", v, *pts.forked[i], nullptr, [&](array& a) {
                return fork_and_write(a.data(), rows, cols, ctx.workers[i], v, gb);
            });
        });
    }
    run_rotated(steps, r);
}

}  // namespace

void run_warm_fill(const context& ctx, sweep_points& pts) {
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const std::string name = ctx.guard.make_name("warm");
    array a = array::create(name, {rows, cols});
    std::fill_n(a.data(), rows * cols, 42.0);  // the parent fills first, like the book
    // The pools' first calls (their workers map the rows they write): not timed.
    const shmpool::call_options static_calls = static_options();
    for (const auto& pool : ctx.pools) {
        pool->for_each(0, rows, row_writer{a, cols, 1.0}, static_calls);
        pool->for_each(0, rows, row_writer{a, cols, 1.0}, quiet_options());
    }
    std::memset(a.data(), 0, rows * cols * sizeof(double));

    for (int r = 0; r < ctx.rounds; ++r) warm_fill_round(ctx, a, r, pts);
    ctx.guard.remove(name);
    for (const auto& pool : ctx.pools) let_workers_release(*pool, name);
}

void run_first_touch(const context& ctx, sweep_points& pts) {
    for (int r = 0; r < ctx.rounds; ++r) first_touch_round(ctx, r, pts);
}

}  // namespace fill_sweep_bench
