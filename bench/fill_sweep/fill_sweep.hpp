// bench/fill_sweep: what its files share. The program (main.cpp says what it measures) runs two
// figure families at each worker count: rounds.cpp runs their rounds (the warm fill, the first
// touch), baselines.cpp the baselines that run in forked children (OpenMP, fork and write), and
// points.cpp holds the figures (one point per curve and worker count), prints them and writes
// them as JSON. This header holds the points, the context of the rounds and what each file
// offers.
#pragma once

#include <cstddef>
#include <memory>
#include <shmpool/shmpool.hpp>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace fill_sweep_bench {

using namespace bench;
using array = shmpool::shared_array<double>;

// The sections of the report.
inline const std::string warm_section = "warm fill (every page mapped before)";
inline const std::string touch_section =
    "first touch (fresh array, created and filled by the parent)";

// Call options without a progress line (the calls are timed).
inline shmpool::call_options quiet_options() {
    shmpool::call_options o;
    o.show_progress = shmpool::progress::never;
    return o;
}

// ---- points.cpp: the figures and their report (bench_support.hpp, plus the series and worker
// count of each figure) ----

// One curve of the chart at one worker count: a rate in GB/s, one value per round.
struct point {
    std::string section;
    std::string series;  // the curve: "shmpool warm", "OpenMP", ...
    std::string name;    // the figure as printed
    int workers = 0;     // 0: not a function of the worker count (memset)
    std::vector<double> values;
    const point* baseline = nullptr;
};

// Every point of a run. Each is allocated once (stable addresses for the baselines); only its
// values grow. The vectors hold one point per worker count, in the order of --workers-list.
struct sweep_points {
    std::vector<std::unique_ptr<point>> all;  // in the order of the report
    point* memset_pt = nullptr;
    std::vector<point*> warm, warm_dyn, omp, touch, forked;

    // All the points, in order, for printing and writing.
    std::vector<const point*> view() const;
};

// The points for these worker counts, with their names and baselines, and no values yet.
sweep_points make_points(const std::vector<int>& workers);

// Prints the points of `section` as a table.
void print_section(const std::string& section, const std::vector<const point*>& points);

// Writes `config` and the points to `path`, for bench/report.py.
void write_json(const std::string& path, const json_config& config,
                const std::vector<const point*>& points);

// ---- rounds.cpp: the rounds of each figure family ----

// What the rounds work with: the pools (one per worker count, in the order of `workers`, made
// before anything else), the names of the arrays they create, the shape of the array they fill,
// and the number of rounds.
struct context {
    const std::vector<std::unique_ptr<shmpool::process_pool>>& pools;
    array_names& guard;
    const std::vector<int>& workers;
    std::size_t rows;
    std::size_t cols;
    double gb;  // the array's size in GB (1e9 bytes)
    int rounds;
};

// The warm fill: memset, the pools' static_ and dynamic for_each and OpenMP, on one array.
void run_warm_fill(const context& ctx, sweep_points& pts);

// The first touch: each pool's first for_each with touch_rows, and forked writers, each on a
// fresh array.
void run_first_touch(const context& ctx, sweep_points& pts);

// ---- baselines.cpp: the baselines that run in forked children ----

// The OpenMP baseline, in a forked child: a warm-up region (the team starts, the child maps the
// pages), then the timed one. Returns the timed region's GB/s.
double omp_fill_in_child(double* p, std::size_t rows, std::size_t cols, int threads, double v,
                         double gb);

// `workers` children forked to write their share of the rows and _exit. Returns GB/s from the
// first fork to the last wait.
double fork_and_write(double* p, std::size_t rows, std::size_t cols, int workers, double v,
                      double gb);

}  // namespace fill_sweep_bench
