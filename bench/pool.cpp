// process_pool against the baselines it is judged by, measured in the same run, interleaved round
// by round (median, min and max over the rounds, and the ratio to the baseline):
//
//   1. warm fill    a second (and later) for_each writing every element of a GiB-sized array,
//                   against an OpenMP `parallel for` with 2 threads in the parent over the same
//                   array, both warmed first;
//   2. first touch  the pool's first for_each over a fresh array the parent created and filled,
//                   with and without call_options::touch_rows, against 2 children forked to
//                   write their half and _exit (what multiprocessing.Pool's fork does);
//   3. dispatch     empty tasks at chunk 1, 100 and automatic, against multiprocessing.Pool(2).map
//                   of a no-op at chunksize 1, 100 and 10,000 (bench/python_pool.py, run here);
//   4. latency      an empty for_each(0, 4) round trip with 4 workers, against Pool(4).apply;
//   5. memory       each worker's USS (Private_Clean + Private_Dirty) after the warm fills.
//
// Ratios read "times better than the baseline": value / baseline for rates, baseline / value
// for times, so > 1 always means the pool is ahead.
//
//   pool [--gib 2] [--rounds 5] [--quick] [--json FILE]
#include <omp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <shmpool/shmpool.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef SHMPOOL_SOURCE_DIR
#error "bench/CMakeLists.txt defines SHMPOOL_SOURCE_DIR (where bench/python_pool.py lives)"
#endif

#include "bench_support.hpp"

namespace {

using namespace bench;

// Call options without a progress line (the calls are timed), built field by field.
shmpool::call_options quiet_options(shmpool::schedule kind = shmpool::schedule::dynamic,
                                    std::size_t chunk = 0) {
    shmpool::call_options o;
    o.kind = kind;
    o.chunk = chunk;
    o.show_progress = shmpool::progress::never;
    return o;
}

void write_json(const std::string& path, const json_config& config) {
    json doc = json_document("pool",
                             "times better than the baseline (value/baseline for rates, "
                             "baseline/value for times)",
                             config);
    doc["figures"] = figures_json();
    write_json_file(path, doc);
}

using array = shmpool::shared_array<double>;

void omp_fill(double* p, std::size_t rows, std::size_t cols, double v) {
    const auto n = static_cast<std::ptrdiff_t>(rows);
#pragma omp parallel for num_threads(2) schedule(static)
    for (std::ptrdiff_t r = 0; r < n; ++r)
        std::fill_n(p + static_cast<std::size_t>(r) * cols, cols, v);
}

// After the parent removed `name`: lets the workers drop their mapping (and the kernel free the
// memory) before the next timed call, so that the next figure does not pay for this one.
// Returns how long the first empty call took, in ms: that call is where the workers unmap it.
double let_workers_release(shmpool::process_pool& pool, const std::string& name) {
    const shmpool::call_options quiet = quiet_options();
    double first_ms = no_value;
    for (int attempt = 0; attempt < 20 && any_worker_maps(pool, name); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        const auto t = clock_type::now();
        pool.for_each(0, pool.size(), [](std::size_t) {}, quiet);
        if (attempt == 0) first_ms = seconds_since(t) * 1e3;
    }
    if (any_worker_maps(pool, name))
        std::fprintf(stderr, "warning: the workers still map %s\n", name.c_str());
    return first_ms;
}

// Minor page faults so far: of one process (/proc/PID/stat field 10), of the pool's workers,
// of this process (all threads) and of its reaped children.
double minor_faults_of(int pid) {
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

double worker_faults(const shmpool::process_pool& pool) {
    double n = 0;
    for (int pid : pool.worker_pids()) n += minor_faults_of(pid);
    return n;
}

double faults_of(int who) {
    rusage u{};
    ::getrusage(who, &u);
    return double(u.ru_minflt);
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/smaps

std::map<std::string, double> read_kb_fields(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno) +
                                 " (reading another process's smaps needs ptrace-read access)");
    std::map<std::string, double> kb;
    std::string line;
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos || line.find(" kB") == std::string::npos) continue;
        kb[line.substr(0, colon)] += std::strtod(line.c_str() + colon + 1, nullptr);
    }
    if (kb.empty()) throw std::runtime_error(path + " holds no kB fields");
    return kb;
}

struct worker_memory {
    double rss_kib, pss_kib, uss_kib, anonymous_kib, private_anonymous_kib;
};

worker_memory memory_of(int pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/";
    auto rollup = read_kb_fields(dir + "smaps_rollup");
    worker_memory m{};
    m.rss_kib = rollup["Rss"];
    m.pss_kib = rollup["Pss"];
    m.uss_kib = rollup["Private_Clean"] + rollup["Private_Dirty"];
    m.anonymous_kib = rollup["Anonymous"];
    // Private anonymous: per mapping, the private pages that are anonymous. smaps does not
    // split the two, so take min(Anonymous, Private_Clean + Private_Dirty) per mapping (exact
    // unless a mapping holds both private file pages and shared anonymous ones).
    std::ifstream in(dir + "smaps");
    if (!in) throw std::runtime_error("cannot read " + dir + "smaps: " + std::strerror(errno));
    std::string line;
    double anon = 0, priv = 0;
    const auto flush = [&] {
        m.private_anonymous_kib += std::min(anon, priv);
        anon = priv = 0;
    };
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos || line.find(" kB") == std::string::npos) {
            if (line.find('-') < line.find(' ')) flush();  // a new mapping's header line
            continue;
        }
        const std::string key = line.substr(0, colon);
        const double v = std::strtod(line.c_str() + colon + 1, nullptr);
        if (key == "Anonymous") anon += v;
        else if (key == "Private_Clean" || key == "Private_Dirty") priv += v;
    }
    flush();
    return m;
}

// ---------------------------------------------------------------------------------------------
// The Python baseline

struct python_figures {
    double rate1 = no_value, rate100 = no_value, rate10000 = no_value, apply_median_us = no_value;
};

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

struct options {
    double gib = 2;
    run_options run;
};

options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "pool: the process pool against OpenMP, fork and multiprocessing.Pool (warm "
        "fill, first touch, dispatch, latency, worker memory)"};
    const CLI::Option* gib =
        app.add_option("--gib", o.gib, "size of the array in GiB")->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (gib->count() == 0) o.gib = 0.125;
        if (!o.run.rounds_given) o.run.rounds = 2;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) try {
    const options opt = parse(argc, argv);

    // The pools come first: they refuse to fork once OpenMP has started its threads.
    shmpool::process_pool pool2(2);
    shmpool::process_pool pool4(4);
    array_names guard("shmpool_bench_pool");

    const std::size_t rows = 2048;
    const std::size_t cols =
        std::max<std::size_t>(1, static_cast<std::size_t>(opt.gib * double(1 << 30)) / 8 / rows);
    const double bytes = double(rows * cols * sizeof(double));
    const double gb = bytes / 1e9;
    const int rounds = opt.run.rounds;
    const shmpool::call_options quiet = quiet_options();
    const auto started = clock_type::now();

    std::printf("shmpool process_pool benchmark: %d rounds, interleaved; array %zu x %zu float64 "
                "(%.3f GiB); %zu usable cores; OpenMP max threads %d\n",
                rounds, rows, cols, bytes / double(1 << 30), shmpool::process_pool::usable_cores(),
                omp_get_max_threads());
    std::printf("ratio = times better than the baseline (value/baseline for rates, "
                "baseline/value for times)\n");
    std::fflush(stdout);

    // ---- 1. warm fill, and 5. memory after it ------------------------------------------------
    const std::string s1 = "1. warm fill (2 workers vs OpenMP 2 threads, same array)";
    const std::string s5 = "5. worker memory after the warm fills (smaps_rollup)";
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
    {
        const std::string name = guard.make_name("warm");
        array a = array::create(name, {rows, cols});
        std::fill_n(a.data(), rows * cols, 42.0);  // the parent fills, like the book
        // The pool's first for_each (its workers map the rows they write) and OpenMP's first
        // region (its team starts): not timed. Every timed call is a second or later one.
        pool2.for_each(0, rows, row_writer{a, cols, 1.0}, quiet);
        omp_fill(a.data(), rows, cols, 1.0);

        const auto pids = pool2.worker_pids();
        for (std::size_t w = 0; w < pids.size(); ++w) {
            const std::string who = "worker " + std::to_string(w) + " ";
            mem.push_back({who + "USS", "KiB", false, {}});
            mem.push_back({who + "RSS", "KiB", false, {}});
            mem.push_back({who + "Anonymous (incl. CoW-shared)", "KiB", false, {}});
            mem.push_back({who + "private anonymous", "KiB", false, {}});
        }

        for (int r = 0; r < rounds; ++r) {
            const double v = 2.0 + r;
            const std::vector<std::function<void()>> steps = {
                [&] {
                    const double f0 = worker_faults(pool2);
                    const auto t = clock_type::now();
                    pool2.for_each(0, rows, row_writer{a, cols, v}, quiet);
                    pool_fill.values.push_back(gb / seconds_since(t));
                    flt_dyn.values.push_back(worker_faults(pool2) - f0);
                    spot_check(a.data(), rows, cols, v, "pool fill");
                },
                [&] {
                    const double f0 = worker_faults(pool2);
                    const auto t = clock_type::now();
                    pool2.for_each(0, rows, row_writer{a, cols, v + 0.5},
                                   quiet_options(shmpool::schedule::static_));
                    pool_fill_static.values.push_back(gb / seconds_since(t));
                    flt_static.values.push_back(worker_faults(pool2) - f0);
                    spot_check(a.data(), rows, cols, v + 0.5, "pool static fill");
                },
                [&] {
                    const double f0 = worker_faults(pool2);
                    const auto t = clock_type::now();
                    pool2.for_each(0, rows, row_writer{a, cols, v + 0.75},
                                   quiet_options().touch_rows(a));
                    pool_fill_touch.values.push_back(gb / seconds_since(t));
                    flt_touch.values.push_back(worker_faults(pool2) - f0);
                    spot_check(a.data(), rows, cols, v + 0.75, "pool fill with touch_rows");
                },
                [&] {
                    const double f0 = faults_of(RUSAGE_SELF);
                    const auto t = clock_type::now();
                    omp_fill(a.data(), rows, cols, v + 0.25);
                    omp_fill_s.values.push_back(gb / seconds_since(t));
                    flt_omp.values.push_back(faults_of(RUSAGE_SELF) - f0);
                    spot_check(a.data(), rows, cols, v + 0.25, "OpenMP fill");
                },
            };
            for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();

            // 5. memory: after this round's warm-fill calls.
            try {
                const auto now_pids = pool2.worker_pids();
                for (std::size_t w = 0; w < pids.size(); ++w) {
                    worker_memory m{no_value, no_value, no_value, no_value, no_value};
                    if (w < now_pids.size()) m = memory_of(now_pids[w]);
                    mem[4 * w + 0].values.push_back(m.uss_kib);
                    mem[4 * w + 1].values.push_back(m.rss_kib);
                    mem[4 * w + 2].values.push_back(m.anonymous_kib);
                    mem[4 * w + 3].values.push_back(m.private_anonymous_kib);
                }
            } catch (const std::exception& e) {
                memory_error = e.what();
            }
        }
        guard.remove(name);
        let_workers_release(pool2, name);
    }
    add_figure(s1, omp_fill_s);
    {
        figure& f = add_figure(s1, pool_fill, &omp_fill_s);
        set_target(f, ">= 0.9x", f.ratio, 0.9, true);
    }
    add_figure(s1, pool_fill_static, &omp_fill_s);
    add_figure(s1, pool_fill_touch, &omp_fill_s);
    for (const series* f : {&flt_omp, &flt_dyn, &flt_static, &flt_touch}) add_figure(s1, *f);
    if (!memory_error.empty()) std::fprintf(stderr, "memory: %s\n", memory_error.c_str());
    for (std::size_t i = 0; i < mem.size(); ++i) {
        figure& f = add_figure(s5, mem[i]);
        if (i % 4 == 0) set_target(f, "<= 1024 KiB", f.st.max, 1024, false);
    }
    print_section(s1);
    std::printf("(%.1f s so far)\n", seconds_since(started));
    std::fflush(stdout);

    // ---- 2. first touch -----------------------------------------------------------------------
    const std::string s2 = "2. first touch (fresh array, created and filled by the parent)";
    series touch_a{"(a) pool, first call, touch_rows(array)", "GB/s", true, {}};
    series touch_b{"(b) fork 2 children, write halves, _exit", "GB/s", true, {}};
    series touch_c{"(c) pool, first call, no touch_rows", "GB/s", true, {}};
    series flt_a{"  minor faults, workers: (a)", "faults", false, {}};
    series flt_b{"  minor faults, children: (b)", "faults", false, {}};
    series flt_c{"  minor faults, workers: (c)", "faults", false, {}};
    series release{"  next empty call after remove (workers unmap)", "ms", false, {}};
    {
        // A fresh array, created and filled by the parent (untimed); `timed` runs on it; then
        // it is removed and, for the pool, released by the workers before anything else runs.
        const auto with_fresh_array = [&](const char* tag, double v, series& out,
                                          series& faults,
                                          const std::function<void(array&)>& timed,
                                          bool pool_used) {
            const std::string name = guard.make_name(tag);
            array a = array::create(name, {rows, cols});
            std::fill_n(a.data(), rows * cols, 42.0);
            const double f0 = pool_used ? worker_faults(pool2) : faults_of(RUSAGE_CHILDREN);
            const auto t = clock_type::now();
            timed(a);
            out.values.push_back(gb / seconds_since(t));
            faults.values.push_back(
                (pool_used ? worker_faults(pool2) : faults_of(RUSAGE_CHILDREN)) - f0);
            spot_check(a.data(), rows, cols, v, tag);
            guard.remove(name);
            if (pool_used) release.values.push_back(let_workers_release(pool2, name));
        };
        for (int r = 0; r < rounds; ++r) {
            const double v = 3.0 + r;
            const std::vector<std::function<void()>> steps = {
                [&] {
                    with_fresh_array("touch_a", v, touch_a, flt_a, [&](array& a) {
                        pool2.for_each(0, rows, row_writer{a, cols, v},
                                       quiet_options().touch_rows(a));
                    }, true);
                },
                [&] {
                    with_fresh_array("fork_b", v, touch_b, flt_b, [&](array& a) {
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
                        for (pid_t kid : kids) {  // blocking: timed (reap_child polls)
                            int status = 0;
                            ::waitpid(kid, &status, 0);
                            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                                throw std::runtime_error("a forked writer failed");
                        }
                    }, false);
                },
                [&] {
                    with_fresh_array("touch_c", v, touch_c, flt_c, [&](array& a) {
                        pool2.for_each(0, rows, row_writer{a, cols, v}, quiet);
                    }, true);
                },
            };
            for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
        }
    }
    add_figure(s2, touch_b);
    {
        figure& f = add_figure(s2, touch_a, &touch_b);
        set_target(f, ">= 2x", f.ratio, 2, true);
    }
    add_figure(s2, touch_c, &touch_b);
    for (const series* f : {&flt_b, &flt_a, &flt_c, &release}) add_figure(s2, *f);
    print_section(s2);
    std::printf("(%.1f s so far)\n", seconds_since(started));
    std::fflush(stdout);

    // ---- 3. dispatch and 4. latency, with Python run in the same rounds -------------------------
    const std::string s3 = "3. dispatch of empty tasks, 2 workers (M tasks/s)";
    const std::string s4 = "4. latency: empty for_each(0, 4) round trip, 4 workers";
    const std::size_t n1 = opt.run.quick ? 200'000 : 2'000'000;
    const std::size_t n100 = opt.run.quick ? 2'000'000 : 20'000'000;
    const std::size_t nauto = opt.run.quick ? 100'000'000 : 1'000'000'000;
    const int lat_calls = opt.run.quick ? 5'000 : 20'000, lat_warmup = opt.run.quick ? 200 : 1'000;
    series d1{"pool chunk 1 (" + number(double(n1)) + " tasks)", "Mtasks/s", true, {}};
    series d100{"pool chunk 100 (" + number(double(n100)) + " tasks)", "Mtasks/s", true, {}};
    series dauto{"pool automatic chunks (" + number(double(nauto)) + " tasks)", "Mtasks/s", true,
                 {}};
    series py1{"Python Pool(2).map chunksize 1", "Mtasks/s", true, {}};
    series py100{"Python Pool(2).map chunksize 100", "Mtasks/s", true, {}};
    series py10000{"Python Pool(2).map chunksize 10000", "Mtasks/s", true, {}};
    series pybest{"Python Pool(2).map, best chunksize", "Mtasks/s", true, {}};
    series lat_median{"pool round trip, median", "us", false, {}};
    series lat_p99{"pool round trip, p99", "us", false, {}};
    series py_apply{"Python Pool(4).apply round trip, median", "us", false, {}};
    {
        const auto noop = [](std::size_t) {};
        const auto rate = [&](std::size_t n, std::size_t chunk) {
            const auto t = clock_type::now();
            const auto done = pool2.for_each(
                0, n, noop,
                quiet_options(shmpool::schedule::dynamic, chunk));
            const double secs = seconds_since(t);
            if (done.completed != n) throw std::runtime_error("dispatch: tasks went missing");
            return double(n) / secs / 1e6;
        };
        pool2.for_each(0, 1000, noop, quiet);
        std::vector<double> lat(static_cast<std::size_t>(lat_calls));
        for (int r = 0; r < rounds; ++r) {
            const python_figures py = run_python(opt.run.quick);
            py1.values.push_back(py.rate1 / 1e6);
            py100.values.push_back(py.rate100 / 1e6);
            py10000.values.push_back(py.rate10000 / 1e6);
            pybest.values.push_back(std::max({py.rate1, py.rate100, py.rate10000}) / 1e6);
            py_apply.values.push_back(py.apply_median_us);

            d1.values.push_back(rate(n1, 1));
            d100.values.push_back(rate(n100, 100));
            dauto.values.push_back(rate(nauto, 0));

            for (int i = 0; i < lat_warmup; ++i) pool4.for_each(0, 4, noop, quiet);
            for (double& x : lat) {
                const auto t = clock_type::now();
                pool4.for_each(0, 4, noop, quiet);
                x = seconds_since(t) * 1e6;
            }
            std::sort(lat.begin(), lat.end());
            lat_median.values.push_back(lat[lat.size() / 2]);
            lat_p99.values.push_back(lat[lat.size() * 99 / 100]);
        }
    }
    add_figure(s3, py1);
    add_figure(s3, py100);
    add_figure(s3, py10000);
    add_figure(s3, pybest);
    {
        figure& f = add_figure(s3, d1, &py1);
        set_target(f, ">= 100x", f.ratio, 100, true);
    }
    add_figure(s3, d100, &py100);
    {
        figure& f = add_figure(s3, dauto, &pybest);
        set_target(f, ">= 10x", f.ratio, 10, true);
    }
    add_figure(s4, py_apply);
    {
        figure& f = add_figure(s4, lat_median, &py_apply);
        set_target(f, "<= 20 us", f.st.median, 20, false);
    }
    add_figure(s4, lat_p99, &py_apply);
    print_section(s3);
    print_section(s4);
    print_section(s5);
    if (!memory_error.empty()) std::printf("memory figures missing: %s\n", memory_error.c_str());
    std::printf("(memory: USS target checked on the largest round; 'private anonymous' is "
                "min(Anonymous, Private_*) per mapping of /proc/PID/smaps)\n");

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s\n", total);
    if (!opt.run.json.empty()) {
        write_json(opt.run.json,
                   {{"gib", json_number(bytes / double(1 << 30))},
                    {"rows", rows},
                    {"cols", cols},
                    {"rounds", rounds},
                    {"quick", opt.run.quick},
                    {"usable_cores", shmpool::process_pool::usable_cores()},
                    {"dispatch_tasks", {n1, n100, nauto}},
                    {"latency_calls", lat_calls},
                    {"latency_warmup_calls", lat_warmup},
                    {"seconds", json_number(total)}});
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "pool: %s\n", e.what());
    return 1;
}
