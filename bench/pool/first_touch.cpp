// bench/pool, figure 2: the first touch. The pool's first for_each over a fresh array the parent
// created and filled, with call_options::touch_rows (a) and without (c), against 2 children
// forked to write their half and _exit (b, what multiprocessing.Pool's fork does); with the
// minor page faults of each, and how long the workers take to unmap the array after.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pool.hpp"

namespace pool_bench {
namespace {

// The series of figure 2, one value per round.
struct touch_series {
    series touch_a{"(a) pool, first call, touch_rows(array)", "GB/s", true, {}};
    series touch_b{"(b) fork 2 children, write halves, _exit", "GB/s", true, {}};
    series touch_c{"(c) pool, first call, no touch_rows", "GB/s", true, {}};
    series flt_a{"  minor faults, workers: (a)", "faults", false, {}};
    series flt_b{"  minor faults, children: (b)", "faults", false, {}};
    series flt_c{"  minor faults, workers: (c)", "faults", false, {}};
    series release{"  next empty call after remove (workers unmap)", "ms", false, {}};
};

// (b): forks 2 children that write v over their half of the rows x cols array `a` and _exit;
// returns when both exited (a blocking waitpid, as it is timed: reap_child polls).
void fork_two_writers(array& a, std::size_t rows, std::size_t cols, double v) {
    double* p = a.data();
    pid_t kids[2];
    for (int k = 0; k < 2; ++k) {
        kids[k] = ::fork();
        if (kids[k] < 0) throw std::runtime_error("fork failed");
        if (kids[k] == 0) {
            const std::size_t half = rows / 2;
            for (std::size_t row = k * half; row < (k + 1) * half; ++row)
                std::fill_n(p + row * cols, cols, v);
            ::_exit(0);
        }
    }
    for (pid_t kid : kids) {
        int status = 0;
        ::waitpid(kid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("a forked writer failed");
    }
}

// One measurement: a fresh array, created and filled by the parent (untimed); `timed` runs on
// it and must write v everywhere. Its GB/s go to `out` and the minor faults it caused (of the
// workers when `pool_used`, else of the reaped children) to `faults`. Then the array is
// removed and, for the pool, released by the workers before anything else runs (s.release).
void with_fresh_array(const context& ctx, touch_series& s, const char* tag, double v, series& out,
                      series& faults, bool pool_used, const std::function<void(array&)>& timed) {
    const std::string name = ctx.guard.make_name(tag);
    array a = array::create(name, {ctx.rows, ctx.cols});
    std::fill_n(a.data(), ctx.rows * ctx.cols, 42.0);
    const double f0 = pool_used ? worker_faults(ctx.pool2) : faults_of(RUSAGE_CHILDREN);
    const auto t = clock_type::now();
    timed(a);
    out.values.push_back(ctx.gb / seconds_since(t));
    faults.values.push_back((pool_used ? worker_faults(ctx.pool2) : faults_of(RUSAGE_CHILDREN)) -
                            f0);
    spot_check(a.data(), ctx.rows, ctx.cols, v, tag);
    ctx.guard.remove(name);
    if (pool_used) s.release.values.push_back(let_workers_release(ctx.pool2, name));
}

// Round r of figure 2: (a), (b) and (c), each on a fresh array, in an order rotated by r.
void first_touch_round(const context& ctx, int r, touch_series& s) {
    shmpool::process_pool& pool2 = ctx.pool2;
    const std::size_t rows = ctx.rows, cols = ctx.cols;
    const shmpool::call_options quiet = quiet_options();
    const double v = 3.0 + r;
    const std::vector<std::function<void()>> steps = {
        [&] {
            with_fresh_array(ctx, s, "touch_a", v, s.touch_a, s.flt_a, true, [&](array& a) {
                pool2.for_each(0, rows, row_writer{a, cols, v}, quiet_options().touch_rows(a));
            });
        },
        [&] {
            with_fresh_array(ctx, s, "fork_b", v, s.touch_b, s.flt_b, false,
                             [&](array& a) { fork_two_writers(a, rows, cols, v); });
        },
        [&] {
            with_fresh_array(ctx, s, "touch_c", v, s.touch_c, s.flt_c, true, [&](array& a) {
                pool2.for_each(0, rows, row_writer{a, cols, v}, quiet);
            });
        },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
}

// Adds the figures of section 2, with the target of (a).
void add_first_touch_figures(const touch_series& s) {
    add_figure(touch_section, s.touch_b);
    {
        figure& f = add_figure(touch_section, s.touch_a, &s.touch_b);
        set_target(f, ">= 2x", f.ratio, 2, true);
    }
    add_figure(touch_section, s.touch_c, &s.touch_b);
    for (const series* f : {&s.flt_b, &s.flt_a, &s.flt_c, &s.release})
        add_figure(touch_section, *f);
}

}  // namespace

void run_first_touch(const context& ctx) {
    touch_series s;
    for (int r = 0; r < ctx.rounds; ++r) first_touch_round(ctx, r, s);
    add_first_touch_figures(s);
}

}  // namespace pool_bench
