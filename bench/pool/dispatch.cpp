// bench/pool, figures 3 and 4: the dispatch of empty tasks at chunk 1, 100 and automatic with 2
// workers, against multiprocessing.Pool(2).map of a no-op at chunksize 1, 100 and 10,000; and
// an empty for_each(0, 4) round trip with 4 workers, against Pool(4).apply. The Python figures
// come from bench/python_pool.py, run here once a round.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "pool.hpp"

#ifndef SHMPOOL_SOURCE_DIR
#error "bench/CMakeLists.txt defines SHMPOOL_SOURCE_DIR (where bench/python_pool.py lives)"
#endif

namespace pool_bench {

dispatch_sizes dispatch_sizes_for(bool quick) {
    dispatch_sizes n{};
    n.n1 = quick ? 200'000 : 2'000'000;
    n.n100 = quick ? 2'000'000 : 20'000'000;
    n.nauto = quick ? 100'000'000 : 1'000'000'000;
    n.lat_calls = quick ? 5'000 : 20'000;
    n.lat_warmup = quick ? 200 : 1'000;
    return n;
}

namespace {

// The task of every call here: nothing.
constexpr auto noop = [](std::size_t) {};

// What one run of bench/python_pool.py measured (NaN: not measured).
struct python_figures {
    double rate1 = no_value, rate100 = no_value, rate10000 = no_value, apply_median_us = no_value;
};

// Runs bench/python_pool.py once: its map rates (tasks/s) and its apply round trip (us).
python_figures run_python(bool quick) {
    python_figures out;
    const json py = run_python_json(SHMPOOL_SOURCE_DIR "/bench/python_pool.py", quick);
    if (py.is_null()) return out;
    out.rate1 = number_at(py, {"map_rate", "1"});
    out.rate100 = number_at(py, {"map_rate", "100"});
    out.rate10000 = number_at(py, {"map_rate", "10000"});
    out.apply_median_us = number_at(py, {"apply_median_us"});
    if (std::isnan(out.rate1) || std::isnan(out.apply_median_us))
        std::fprintf(stderr, "warning: cannot parse the output of bench/python_pool.py: %s\n",
                     py.dump().c_str());
    return out;
}

// The series of figures 3 and 4, one value per round.
struct dispatch_series {
    // The pool's dispatch series are named with their number of tasks.
    explicit dispatch_series(const dispatch_sizes& n)
        : d1{"pool chunk 1 (" + number(double(n.n1)) + " tasks)", "Mtasks/s", true, {}},
          d100{"pool chunk 100 (" + number(double(n.n100)) + " tasks)", "Mtasks/s", true, {}},
          dauto{"pool automatic chunks (" + number(double(n.nauto)) + " tasks)",
                "Mtasks/s",
                true,
                {}} {}
    series d1, d100, dauto;
    series py1{"Python Pool(2).map chunksize 1", "Mtasks/s", true, {}};
    series py100{"Python Pool(2).map chunksize 100", "Mtasks/s", true, {}};
    series py10000{"Python Pool(2).map chunksize 10000", "Mtasks/s", true, {}};
    series pybest{"Python Pool(2).map, best chunksize", "Mtasks/s", true, {}};
    series lat_median{"pool round trip, median", "us", false, {}};
    series lat_p99{"pool round trip, p99", "us", false, {}};
    series py_apply{"Python Pool(4).apply round trip, median", "us", false, {}};
};

// One round of the Python baselines: Pool(2).map at each chunksize (and the best), Pool(4).apply.
void python_round(bool quick, dispatch_series& s) {
    const python_figures py = run_python(quick);
    s.py1.values.push_back(py.rate1 / 1e6);
    s.py100.values.push_back(py.rate100 / 1e6);
    s.py10000.values.push_back(py.rate10000 / 1e6);
    s.pybest.values.push_back(std::max({py.rate1, py.rate100, py.rate10000}) / 1e6);
    s.py_apply.values.push_back(py.apply_median_us);
}

// The rate of n empty tasks dispatched by `pool` in chunks of `chunk` (0: automatic), in
// M tasks/s; throws std::runtime_error when a task went missing.
double dispatch_rate(shmpool::process_pool& pool, std::size_t n, std::size_t chunk) {
    const auto t = clock_type::now();
    const auto done = pool.for_each(0, n, noop, quiet_options(shmpool::schedule::dynamic, chunk));
    const double secs = seconds_since(t);
    if (done.completed != n) throw std::runtime_error("dispatch: tasks went missing");
    return double(n) / secs / 1e6;
}

// One round of figure 4: `warmup` untimed round trips of `pool`, then one timed per element of
// `lat` (in us, sorted after); adds their median and p99.
void latency_round(shmpool::process_pool& pool, int warmup, std::vector<double>& lat,
                   dispatch_series& s) {
    const shmpool::call_options quiet = quiet_options();
    for (int i = 0; i < warmup; ++i) pool.for_each(0, 4, noop, quiet);
    for (double& x : lat) {
        const auto t = clock_type::now();
        pool.for_each(0, 4, noop, quiet);
        x = seconds_since(t) * 1e6;
    }
    std::sort(lat.begin(), lat.end());
    s.lat_median.values.push_back(lat[lat.size() / 2]);
    s.lat_p99.values.push_back(lat[lat.size() * 99 / 100]);
}

// Adds the figures of sections 3 and 4, with their targets.
void add_dispatch_figures(const dispatch_series& s) {
    add_figure(dispatch_section, s.py1);
    add_figure(dispatch_section, s.py100);
    add_figure(dispatch_section, s.py10000);
    add_figure(dispatch_section, s.pybest);
    {
        figure& f = add_figure(dispatch_section, s.d1, &s.py1);
        set_target(f, ">= 100x", f.ratio, 100, true);
    }
    add_figure(dispatch_section, s.d100, &s.py100);
    {
        figure& f = add_figure(dispatch_section, s.dauto, &s.pybest);
        set_target(f, ">= 10x", f.ratio, 10, true);
    }
    add_figure(latency_section, s.py_apply);
    {
        figure& f = add_figure(latency_section, s.lat_median, &s.py_apply);
        set_target(f, "<= 20 us", f.st.median, 20, false);
    }
    add_figure(latency_section, s.lat_p99, &s.py_apply);
}

}  // namespace

void run_dispatch_and_latency(const context& ctx, const dispatch_sizes& n) {
    dispatch_series s(n);
    ctx.pool2.for_each(0, 1000, noop, quiet_options());
    std::vector<double> lat(static_cast<std::size_t>(n.lat_calls));
    for (int r = 0; r < ctx.rounds; ++r) {
        python_round(ctx.quick, s);
        s.d1.values.push_back(dispatch_rate(ctx.pool2, n.n1, 1));
        s.d100.values.push_back(dispatch_rate(ctx.pool2, n.n100, 100));
        s.dauto.values.push_back(dispatch_rate(ctx.pool2, n.nauto, 0));
        latency_round(ctx.pool4, n.lat_warmup, lat, s);
    }
    add_dispatch_figures(s);
}

}  // namespace pool_bench
