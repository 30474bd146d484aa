// bench/first_day, figure 1: the first pass. process_pool::for_each_row's first call over a fresh
// array the parent created and filled (a), which applies the first-touch treatment of
// call_options::touch_rows itself, against the naive way: 2 children forked for the round, each
// writing its share of the rows with memset and calling _exit (b). Both write every byte with
// memset, row by row; with the minor page faults of each, and how long the workers take to
// unmap the array after (as bench/pool's figure 2, which measures touch_rows).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "first_day.hpp"
#include "worker_stats.hpp"

namespace first_day {
namespace {

constexpr int writers = 2;  // the forked children of (b), as many as the pool's workers

// The task of (a): row r gets v in every byte.
struct row_memset {
    bytes a;
    std::size_t cols;
    int v;
    void operator()(std::size_t r) const { std::memset(a.data() + r * cols, v, cols); }
};

// The series of figure 1, one value per round.
struct pass_series {
    series pool{"(a) for_each_row, first pass", "GB/s", true, {}};
    series forked{"(b) fork 2 children, memset their rows, _exit", "GB/s", true, {}};
    series flt_pool{"  minor faults, workers: (a)", "faults", false, {}};
    series flt_forked{"  minor faults, children: (b)", "faults", false, {}};
    series release{"  next empty call after remove (workers unmap)", "ms", false, {}};
};

// Waits for `pid` without polling (the wait is timed); whether it exited with status 0.
bool exited_ok(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// (b): forks `writers` children that memset v over their share of the rows of `a`, and waits
// until all of them exited.
void fork_writers(const bytes& a, std::size_t rows, std::size_t cols, int v) {
    std::uint8_t* p = a.data();
    std::vector<pid_t> kids;
    std::string failed;
    for (int k = 0; k < writers && failed.empty(); ++k) {
        try {
            kids.push_back(fork_child([=] {
                const std::size_t begin = rows * k / writers, end = rows * (k + 1) / writers;
                for (std::size_t row = begin; row < end; ++row)
                    std::memset(p + row * cols, v, cols);
            }));
        } catch (const std::exception& e) {
            failed = e.what();
        }
    }
    for (pid_t kid : kids)
        if (!exited_ok(kid) && failed.empty()) failed = "a forked writer failed";
    if (!failed.empty()) throw std::runtime_error(failed);
}

// Every byte of `a` is v? Checks a few: a benchmark of writes that did not happen is worse than
// none.
void check_written(const bytes& a, std::size_t rows, std::size_t cols, int v, const char* what) {
    for (std::size_t r : {std::size_t{0}, rows / 3, rows / 2, rows - 1})
        for (std::size_t c : {std::size_t{0}, cols / 2, cols - 1})
            if (a.data()[r * cols + c] != std::uint8_t(v))
                throw std::runtime_error(std::string(what) + ": byte (" + std::to_string(r) + ", " +
                                         std::to_string(c) + ") was not written");
}

// One measurement: a fresh array, created and filled by the parent (untimed); `timed` runs on
// it and must write v everywhere. Its GB/s go to `out` and the minor faults it caused (of the
// workers when `pool_used`, else of the reaped children) to `faults`. Then the array is
// removed and, for the pool, released by the workers before anything else runs (s.release).
void with_fresh_array(const context& ctx, pass_series& s, const char* tag, int v, series& out,
                      series& faults, bool pool_used, const std::function<void(bytes&)>& timed) {
    const std::string name = ctx.guard.make_name(tag);
    shmpool::create_options opts;
    opts.show_progress = shmpool::progress::never;
    bytes a = bytes::create(name, {ctx.rows, ctx.cols}, opts);
    std::memset(a.data(), 42, ctx.rows * ctx.cols);
    const auto count_faults = [&] {
        return pool_used ? worker_faults(ctx.pool) : faults_of(RUSAGE_CHILDREN);
    };
    const double f0 = count_faults();
    const auto t = clock_type::now();
    timed(a);
    out.values.push_back(ctx.gb / seconds_since(t));
    faults.values.push_back(count_faults() - f0);
    check_written(a, ctx.rows, ctx.cols, v, tag);
    ctx.guard.remove(name);
    if (pool_used) s.release.values.push_back(let_workers_release(ctx.pool, name));
}

// Round r of figure 1: (a) and (b), each on a fresh array, in an order rotated by r.
void first_pass_round(const context& ctx, int r, pass_series& s) {
    const int v = 3 + r % 100;
    shmpool::call_options quiet;
    quiet.show_progress = shmpool::progress::never;
    const std::vector<std::function<void()>> steps = {
        [&] {
            with_fresh_array(ctx, s, "pass", v, s.pool, s.flt_pool, true, [&](bytes& a) {
                ctx.pool.for_each_row(a, row_memset{a, ctx.cols, v}, quiet);
            });
        },
        [&] {
            with_fresh_array(ctx, s, "forked", v, s.forked, s.flt_forked, false,
                             [&](bytes& a) { fork_writers(a, ctx.rows, ctx.cols, v); });
        },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
}

}  // namespace

void run_first_pass(const context& ctx) {
    pass_series s;
    for (int r = 0; r < ctx.rounds; ++r) first_pass_round(ctx, r, s);
    add_figure(pass_section, s.forked);
    figure& f = add_figure(pass_section, s.pool, &s.forked);
    set_target(f, ">= 3x", f.ratio, 3, true);
    for (const series* x : {&s.flt_forked, &s.flt_pool, &s.release}) add_figure(pass_section, *x);
}

}  // namespace first_day
