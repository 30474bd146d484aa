// Fill speed against the number of workers: process_pool against the baselines it is judged by,
// for each worker count of --workers-list (1, 2, 4, 8 by default), measured in the same run and
// interleaved round by round (median, min and max over the rounds, and the ratio):
//
//   warm fill    a for_each with schedule::static_ writing every element of a GiB-sized array
//                that the workers wrote before (each worker writes the same rows every time, so
//                its page tables are warm), against an OpenMP `parallel for` schedule(static)
//                with as many threads, warmed the same way; the same for_each with the default
//                dynamic schedule (a worker may get rows it never mapped: with more workers than
//                cores it pays page faults again); and a single-threaded memset of the same array
//                (the ceiling: one core writing memory that is mapped already);
//   first touch  the pool's first for_each, with call_options::touch_rows, over a fresh array
//                that the parent created and filled, against as many children forked to write
//                their share and _exit (what multiprocessing.Pool's fork does).
//
// The pools (one per worker count) are constructed first: a pool refuses to start in a process
// that runs threads. The OpenMP baseline runs in a child forked for each measurement (a warm-up
// region, then the timed one), so this process never starts an OpenMP team.
//
// Ratios read "times better than the baseline" (value / baseline: every figure is a rate).
//
//   fill_sweep [--workers-list 1,2,4,8] [--gib 1] [--rounds 5] [--quick] [--json FILE]
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <shmpool/shmpool.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace bench;

shmpool::call_options quiet_options() {
    shmpool::call_options o;
    o.show_progress = shmpool::progress::never;
    return o;
}

// ---------------------------------------------------------------------------------------------
// Figures and their report (bench_support.hpp, plus the series and worker count of each figure)

// One curve of the chart at one worker count: a rate in GB/s, one value per round.
struct point {
    std::string section;
    std::string series;  // the curve: "shmpool warm", "OpenMP", ...
    std::string name;    // the figure as printed
    int workers = 0;     // 0: not a function of the worker count (memset)
    std::vector<double> values;
    const point* baseline = nullptr;
};

double ratio_of(const point& p) {
    if (!p.baseline) return no_value;
    const double v = summarize(p.values).median, b = summarize(p.baseline->values).median;
    return std::isnan(v) || std::isnan(b) || b <= 0 ? no_value : v / b;
}

void print_section(const std::string& section, const std::vector<const point*>& points) {
    std::printf("\n== %s\n", section.c_str());
    std::printf("%-40s %8s %8s %8s %-5s | %-40s %8s\n", "figure", "median", "min", "max", "unit",
                "baseline (its median)", "ratio");
    for (const point* p : points) {
        if (p->section != section) continue;
        const stats st = summarize(p->values);
        std::string base;
        if (p->baseline)
            base = p->baseline->name + ": " + number(summarize(p->baseline->values).median);
        std::printf("%-40s %8s %8s %8s %-5s | %-40s %8s\n", p->name.c_str(),
                    number(st.median).c_str(), number(st.min).c_str(), number(st.max).c_str(),
                    "GB/s", base.c_str(), ratio_text(ratio_of(*p)).c_str());
    }
    std::fflush(stdout);
}

json point_json(const point& p) {
    const stats st = summarize(p.values);
    return {{"section", p.section},
            {"name", p.name},
            {"series", p.series},
            {"workers", p.workers > 0 ? json(p.workers) : json()},
            {"value", json_number(st.median)},
            {"unit", "GB/s"},
            {"baseline_name", p.baseline ? json(p.baseline->name) : json()},
            {"baseline_value",
             json_number(p.baseline ? summarize(p.baseline->values).median : no_value)},
            {"ratio", json_number(ratio_of(p))},
            {"min", json_number(st.min)},
            {"max", json_number(st.max)},
            {"rounds", rounds_json(p.values)}};
}

void write_json(const std::string& path, const json_config& config,
                const std::vector<const point*>& points) {
    json doc = json_document(
        "fill_sweep", "times better than the baseline (value/baseline: every figure is a rate)",
        config);
    json& out = doc["figures"] = json::array();
    for (const point* p : points) out.push_back(point_json(*p));
    write_json_file(path, doc);
}

// ---------------------------------------------------------------------------------------------
// Arrays: every name this program creates is removed at the end (bench::array_names).

using array = shmpool::shared_array<double>;

// After a remove, lets the workers drop the array (they release removed arrays on a call at
// least 100 ms later) so the next figure does not pay for it.
void let_workers_release(shmpool::process_pool& pool, const std::string& name) {
    for (int attempt = 0; attempt < 20 && any_worker_maps(pool, name); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        pool.for_each(0, pool.size(), [](std::size_t) {}, quiet_options());
    }
    if (any_worker_maps(pool, name))
        std::fprintf(stderr, "warning: the workers still map %s\n", name.c_str());
}

// A blocking waitpid, not shmpool::reap_child: fork_and_write times this wait, and reap_child
// polls (up to 20 ms apart).
void wait_for(pid_t kid, const char* what) {
    int status = 0;
    while (::waitpid(kid, &status, 0) < 0)
        if (errno != EINTR)
            throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(std::string(what) + " failed (status " + std::to_string(status) +
                                 ")");
}

// The OpenMP baseline, in a forked child: a warm-up region (the team starts, the child maps the
// pages), then the timed one. Returns the timed region's GB/s.
double omp_fill_in_child(double* p, std::size_t rows, std::size_t cols, int threads, double v,
                         double gb) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    std::fflush(nullptr);
    const pid_t kid = ::fork();
    if (kid < 0) throw std::runtime_error("fork failed");
    if (kid == 0) {
        ::close(fds[0]);
        const auto n = static_cast<std::ptrdiff_t>(rows);
        const auto fill = [&](double x) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (std::ptrdiff_t r = 0; r < n; ++r)
                std::fill_n(p + static_cast<std::size_t>(r) * cols, cols, x);
        };
        fill(v - 0.5);
        const auto t = clock_type::now();
        fill(v);
        const double rate = gb / seconds_since(t);
        const bool ok = ::write(fds[1], &rate, sizeof rate) == sizeof rate;
        ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    double rate = no_value;
    const ssize_t got = ::read(fds[0], &rate, sizeof rate);
    ::close(fds[0]);
    wait_for(kid, "the OpenMP child");
    if (got != sizeof rate) throw std::runtime_error("the OpenMP child reported nothing");
    return rate;
}

// `workers` children forked to write their share of the rows and _exit. Returns GB/s from the
// first fork to the last wait.
double fork_and_write(double* p, std::size_t rows, std::size_t cols, int workers, double v,
                      double gb) {
    std::fflush(nullptr);
    const auto t = clock_type::now();
    std::vector<pid_t> kids;
    for (int k = 0; k < workers; ++k) {
        const pid_t kid = ::fork();
        if (kid < 0) throw std::runtime_error("fork failed");
        if (kid == 0) {
            const std::size_t begin = rows * std::size_t(k) / std::size_t(workers);
            const std::size_t end = rows * std::size_t(k + 1) / std::size_t(workers);
            std::fill(p + begin * cols, p + end * cols, v);
            ::_exit(0);
        }
        kids.push_back(kid);
    }
    for (pid_t kid : kids) wait_for(kid, "a forked writer");
    return gb / seconds_since(t);
}

std::string join(const std::vector<int>& items, const char* separator) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.append(separator);
        out.append(std::to_string(items[i]));
    }
    return out;
}

struct options {
    std::vector<int> workers{1, 2, 4, 8};
    double gib = 1;
    run_options run;
};

options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "fill_sweep: for_each filling an array with 1, 2, 4, 8 workers, against OpenMP "
        "threads, forked children and memset"};
    app.add_option("--workers-list", o.workers, "worker counts, comma-separated")
        ->delimiter(',')
        ->check(CLI::Range(1, 256));
    const CLI::Option* gib =
        app.add_option("--gib", o.gib, "size of the array in GiB")->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (gib->count() == 0) o.gib = 0.125;
        if (!o.run.rounds_given) o.run.rounds = 3;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    const options opt = parse(argc, argv);

    // The pools come first, one per worker count, before anything could start a thread.
    std::vector<std::unique_ptr<shmpool::process_pool>> pools;
    for (int w : opt.workers) pools.push_back(std::make_unique<shmpool::process_pool>(w));
    array_names guard("shmpool_bench_fill_sweep");

    // 2520 rows: divisible by 1 to 10 workers, so that every static share is the same size.
    const std::size_t rows = 2520;
    const std::size_t cols =
        std::max<std::size_t>(1, static_cast<std::size_t>(opt.gib * double(1 << 30)) / 8 / rows);
    const double bytes = double(rows * cols * sizeof(double));
    const double gb = bytes / 1e9;
    const auto started = clock_type::now();
    const shmpool::call_options quiet = quiet_options();

    std::printf(
        "fill sweep: workers %s; %d rounds, interleaved; array %zu x %zu float64 "
        "(%.3f GiB); %zu usable cores\n",
        join(opt.workers, ",").c_str(), opt.run.rounds, rows, cols, bytes / double(1 << 30),
        shmpool::process_pool::usable_cores());
    std::fflush(stdout);

    const std::string s_warm = "warm fill (every page mapped before)";
    const std::string s_touch = "first touch (fresh array, created and filled by the parent)";
    // Each point is allocated once (stable addresses for the baselines); only its values grow.
    std::vector<std::unique_ptr<point>> all;
    const auto add = [&](const std::string& section, const std::string& series,
                         const std::string& name, int w) -> point& {
        all.push_back(std::make_unique<point>(point{section, series, name, w, {}, nullptr}));
        return *all.back();
    };
    point& memset_pt = add(s_warm, "memset, 1 thread", "memset, 1 thread (ceiling)", 0);
    std::vector<point*> warm, warm_dyn, omp, touch, forked;
    for (int w : opt.workers) {
        const std::string n = std::to_string(w);
        const auto many = [w](const char* one, const char* more) { return w == 1 ? one : more; };
        const std::string workers = n + many(" worker", " workers");
        omp.push_back(
            &add(s_warm, "OpenMP", "OpenMP parallel for, " + n + many(" thread", " threads"), w));
        warm.push_back(&add(s_warm, "shmpool warm", "shmpool static_, " + workers, w));
        warm.back()->baseline = omp.back();
        warm_dyn.push_back(&add(s_warm, "shmpool warm, dynamic",
                                "shmpool dynamic (default), " + workers, w));
        warm_dyn.back()->baseline = omp.back();
        forked.push_back(&add(s_touch, "fork and write",
                              "fork " + n + many(" child", " children") + ", write, _exit", w));
        touch.push_back(&add(s_touch, "shmpool first touch",
                             "shmpool first call + touch_rows, " + workers, w));
        touch.back()->baseline = forked.back();
    }

    // ---- warm fill ----------------------------------------------------------------------------
    {
        const std::string name = guard.make_name("warm");
        array a = array::create(name, {rows, cols});
        std::fill_n(a.data(), rows * cols, 42.0);  // the parent fills first, like the book
        shmpool::call_options static_calls = quiet_options();
        static_calls.kind = shmpool::schedule::static_;
        for (auto& pool : pools) {
            pool->for_each(0, rows, row_writer{a, cols, 1.0}, static_calls);
            pool->for_each(0, rows, row_writer{a, cols, 1.0}, quiet);
        }
        std::memset(a.data(), 0, rows * cols * sizeof(double));

        for (int r = 0; r < opt.run.rounds; ++r) {
            const double v = 2.0 + r;
            std::vector<std::function<void()>> steps;
            steps.push_back([&] {
                const auto t = clock_type::now();
                std::memset(a.data(), 0, rows * cols * sizeof(double));
                memset_pt.values.push_back(gb / seconds_since(t));
                spot_check(a.data(), rows, cols, 0.0, "memset");
            });
            for (std::size_t i = 0; i < opt.workers.size(); ++i) {
                steps.push_back([&, i] {
                    const auto t = clock_type::now();
                    pools[i]->for_each(0, rows, row_writer{a, cols, v + 0.25}, static_calls);
                    warm[i]->values.push_back(gb / seconds_since(t));
                    spot_check(a.data(), rows, cols, v + 0.25, warm[i]->name);
                });
                steps.push_back([&, i] {
                    const auto t = clock_type::now();
                    pools[i]->for_each(0, rows, row_writer{a, cols, v + 0.5}, quiet);
                    warm_dyn[i]->values.push_back(gb / seconds_since(t));
                    spot_check(a.data(), rows, cols, v + 0.5, warm_dyn[i]->name);
                });
                steps.push_back([&, i] {
                    omp[i]->values.push_back(
                        omp_fill_in_child(a.data(), rows, cols, opt.workers[i], v + 0.75, gb));
                    spot_check(a.data(), rows, cols, v + 0.75, omp[i]->name);
                });
            }
            for (std::size_t k = 0; k < steps.size(); ++k)
                steps[(k + std::size_t(r) * 3) % steps.size()]();
        }
        guard.remove(name);
        for (auto& pool : pools) let_workers_release(*pool, name);
    }
    std::vector<const point*> view;
    for (const auto& p : all) view.push_back(p.get());
    print_section(s_warm, view);
    std::printf("(%.1f s so far)\n", seconds_since(started));

    // ---- first touch --------------------------------------------------------------------------
    for (int r = 0; r < opt.run.rounds; ++r) {
        const double v = 3.0 + r;
        // A fresh array, created and filled by the parent (untimed); `timed` writes it.
        const auto with_fresh_array = [&](const std::string& tag, point& out,
                                          const std::function<double(array&)>& timed,
                                          shmpool::process_pool* pool) {
            const std::string name = guard.make_name(tag);
            array a = array::create(name, {rows, cols});
            std::fill_n(a.data(), rows * cols, 42.0);
            out.values.push_back(timed(a));
            spot_check(a.data(), rows, cols, v, out.name);
            guard.remove(name);
            if (pool) let_workers_release(*pool, name);
        };
        std::vector<std::function<void()>> steps;
        for (std::size_t i = 0; i < opt.workers.size(); ++i) {
            steps.push_back([&, i] {
                with_fresh_array("touch", *touch[i], [&](array& a) {
                    const auto t = clock_type::now();
                    pools[i]->for_each(0, rows, row_writer{a, cols, v},
                                       quiet_options().touch_rows(a));
                    return gb / seconds_since(t);
                }, pools[i].get());
            });
            steps.push_back([&, i] {
                with_fresh_array("fork", *forked[i], [&](array& a) {
                    return fork_and_write(a.data(), rows, cols, opt.workers[i], v, gb);
                }, nullptr);
            });
        }
        for (std::size_t k = 0; k < steps.size(); ++k)
            steps[(k + std::size_t(r) * 3) % steps.size()]();
    }
    print_section(s_touch, view);

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s\n", total);
    if (!opt.run.json.empty()) {
        write_json(opt.run.json,
                   {{"gib", json_number(bytes / double(1 << 30))},
                    {"rows", rows},
                    {"cols", cols},
                    {"rounds", opt.run.rounds},
                    {"quick", opt.run.quick},
                    {"workers", opt.workers},
                    {"usable_cores", shmpool::process_pool::usable_cores()},
                    {"seconds", json_number(total)}},
                   view);
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "fill_sweep: %s\n", e.what());
    return 1;
}
