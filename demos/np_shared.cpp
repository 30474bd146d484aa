// The book's shared numpy array ("High Performance Python", ch. 9), and shmpool's main job.
// The parent creates a ROWS x COLS float64 named shared array (by default 10,000 x 80,000 =
// 6.4 GB), fills it with 42, and a pool of 4 workers takes the row indices: each worker checks
// that its row still holds 42 and writes its PID over it, in place. While the workers are
// alive, the parent proves from /proc/PID/smaps that the five processes hold one copy; then the
// values are counted and the PIDs checked. numpy can map the same array while it runs:
// numpy.load('/dev/shm/NAME', mmap_mode='r+'). SHMPOOL_SHM_DIR=DIR keeps the array in DIR.
#include <sys/statvfs.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <shmpool/shmpool.hpp>
#include <string>
#include <vector>
#include <xtensor/xview.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// A field of /proc/meminfo, in bytes (0 if absent).
std::size_t meminfo_bytes(const std::string& field) {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    std::size_t kb = 0;
    while (in >> key >> kb) {
        std::getline(in, unit);
        if (key == field + ":") return kb * 1024;
    }
    return 0;
}

// Where shmpool keeps named arrays: /dev/shm, or $SHMPOOL_SHM_DIR.
std::string shm_dir() {
    const char* env = std::getenv("SHMPOOL_SHM_DIR");
    return env && *env ? env : "/dev/shm";
}

std::size_t shm_free_bytes() {
    struct statvfs vfs {};
    if (::statvfs(shm_dir().c_str(), &vfs) != 0) return 0;
    return static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
}

// The rows that fit in 80% of what the shm directory has free and of the memory available.
std::size_t rows_that_fit(std::size_t rows, std::size_t cols) {
    const std::size_t budget = std::min(shm_free_bytes(), meminfo_bytes("MemAvailable")) / 10 * 8;
    return std::max<std::size_t>(1, std::min(rows, budget / (cols * sizeof(double))));
}

// Fills the array with `v` from the parent, block by block, with a progress line on a terminal.
void fill(const shmpool::shared_array<double>& grid, double v) {
    const std::size_t rows = grid.shape()[0];
    const std::size_t block = std::max<std::size_t>(1, rows / 50);
    const bool show = ::isatty(2);
    for (std::size_t r = 0; r < rows; r += block) {
        const std::size_t end = std::min(rows, r + block);
        xt::view(grid.view(), xt::range(r, end), xt::all()).fill(v);
        if (show) std::fprintf(stderr, "\r  filling: %3zu%%", end * 100 / rows);
    }
    if (show) std::fprintf(stderr, "\r                \r");
}

// pmap -x style lines for the array's mapping in each process, and the verdict.
bool print_sharing_proof(const std::vector<pid_t>& pids, const std::string& path,
                         std::size_t array_bytes) {
    const shmpool::memory_report report = shmpool::inspect_memory(pids);
    std::printf("\nproof of sharing (/proc/PID/smaps), the array's mapping in each process:\n");
    std::printf("%8s %-8s %12s %12s %12s %12s  %s\n", "PID", "role", "Kbytes", "RSS", "PSS",
                "Dirty", "Mode");
    std::uint64_t pss_sum = 0;
    for (const shmpool::process_memory& p : report.processes) {
        for (const shmpool::memory_mapping& m : p.mappings) {
            if (m.path != path && m.name != path) continue;
            std::printf("%8d %-8s %12llu %12llu %12llu %12llu  %s %s\n", p.pid,
                        p.pid == ::getpid() ? "parent" : "worker",
                        static_cast<unsigned long long>(m.kbytes),
                        static_cast<unsigned long long>(m.rss_kb),
                        static_cast<unsigned long long>(m.pss_kb),
                        static_cast<unsigned long long>(m.dirty_kb), m.mode.c_str(),
                        m.name.c_str());
            pss_sum += m.pss_kb;
        }
    }
    const double array_kb = static_cast<double>(array_bytes) / 1024.0;
    const double ratio = static_cast<double>(pss_sum) / array_kb;
    std::printf("sum of PSS over %zu processes: %llu kB = %.2f%% of the array's %.0f kB%s\n",
                report.processes.size(), static_cast<unsigned long long>(pss_sum), 100.0 * ratio,
                array_kb, ratio > 0.99 && ratio < 1.01 ? ": one copy" : "");
    for (const shmpool::segment_memory& s : report.segments)
        if (s.name == path) std::printf("%s\n", s.verdict.c_str());
    return ratio > 0.99 && ratio < 1.01;
}

// The flags of the demo.
struct options {
    std::size_t rows = 10000, cols = 80000, workers = 4;
};

// Adds --rows, --cols and --workers to `app`.
void add_options(CLI::App& app, options& o) {
    app.add_option("--rows", o.rows, "rows of the array (scaled down if memory is short)")
        ->check(CLI::PositiveNumber);
    app.add_option("--cols", o.cols, "columns of the array")->check(CLI::PositiveNumber);
    app.add_option("--workers", o.workers, "worker processes")->check(CLI::Range(1, 64));
}

// Lowers o.rows to what fits in /dev/shm and memory (rows_that_fit), saying so.
void scale_down_to_fit(options& o) {
    const std::size_t fit = rows_that_fit(o.rows, o.cols);
    if (fit < o.rows) {
        std::printf("scaled down: %zu x %zu would not fit in /dev/shm and memory; using %zu rows\n",
                    o.rows, o.cols, fit);
        o.rows = fit;
    }
}

// How long each phase took, in seconds.
struct phase_times {
    double create = 0, fill = 0, map = 0, verify = 0;
};

// Creates the named array `name` of o.rows x o.cols float64 and fills it with 42 from the
// parent, printing each step with its time.
shmpool::shared_array<double> create_and_fill(const std::string& name, const options& o,
                                              phase_times& t) {
    const std::size_t bytes = o.rows * o.cols * sizeof(double);
    auto start = clock_type::now();
    auto grid = shmpool::shared_array<double>::create(name, {o.rows, o.cols});
    t.create = seconds_since(start);
    std::printf("created %s: %zu x %zu float64, %.2f GB in %.2f s\n", grid.path().c_str(), o.rows,
                o.cols, static_cast<double>(bytes) / 1e9, t.create);

    start = clock_type::now();
    fill(grid, 42.0);
    t.fill = seconds_since(start);
    std::printf("filled with 42 in %.2f s\n", t.fill);
    return grid;
}

// The pool's job: each worker takes rows (static schedule, touch_rows), checks that each still
// holds 42 and writes its PID over it. Prints the time it took, and sets t.map to it.
void write_pids(shmpool::process_pool& pool, const shmpool::shared_array<double>& grid,
                const options& o, phase_times& t) {
    const auto start = clock_type::now();
    const shmpool::call_options by_rows =
        shmpool::call_options{.kind = shmpool::schedule::static_}.touch_rows(grid);
    pool.for_each(
        0, o.rows,
        [grid](std::size_t row) {
            auto r = xt::row(grid.view(), row);
            if (r(0) != 42.0) throw std::runtime_error("row written twice, or never filled");
            r.fill(static_cast<double>(::getpid()));
        },
        by_rows);
    t.map = seconds_since(start);
    std::printf("%zu workers wrote their PID over %zu rows in %.2f s\n", o.workers, o.rows, t.map);
}

// This process and the pool's workers.
std::vector<pid_t> all_pids(const shmpool::process_pool& pool) {
    std::vector<pid_t> pids{::getpid()};
    for (int pid : pool.worker_pids()) pids.push_back(pid);
    return pids;
}

// Prints how much the machine's MemAvailable fell since `available_before`, in array sizes.
void print_memory_growth(std::size_t available_before, std::size_t bytes) {
    const std::size_t available_after = meminfo_bytes("MemAvailable");
    const double growth =
        static_cast<double>(available_before - std::min(available_before, available_after)) /
        static_cast<double>(bytes);
    std::printf("the machine's memory use grew by %.3fx the array's size\n", growth);
}

// Verify: every row must hold one value from end to end; counts the elements of each value
// (-1: a row that holds more than one), with the pool. Sets t.verify.
std::map<double, std::size_t> count_values(shmpool::process_pool& pool,
                                           const shmpool::shared_array<double>& grid,
                                           const options& o, phase_times& t) {
    const auto start = clock_type::now();
    const std::vector<double> row_values =
        pool.map(0, o.rows,
                 [grid](std::size_t row) {
                     const double* r = grid.data() + row * grid.shape()[1];
                     const std::size_t n = grid.shape()[1];
                     for (std::size_t i = 1; i < n; ++i)
                         if (r[i] != r[0]) return -1.0;  // not one value over the row
                     return r[0];
                 },
                 {.kind = shmpool::schedule::static_});
    std::map<double, std::size_t> counts;
    for (double v : row_values) counts[v] += o.cols;
    t.verify = seconds_since(start);
    return counts;
}

// Prints the count of each value and the checks; returns whether they all passed.
bool print_checks(const std::map<double, std::size_t>& counts, const shmpool::process_pool& pool,
                  const options& o, bool one_copy) {
    std::printf("\n%10s | %14s\n", "PID", "count");
    std::size_t total = 0;
    for (const auto& [value, n] : counts) {
        std::printf("%10.0f | %14zu\n", value, n);
        total += n;
    }
    const std::vector<int> live = pool.worker_pids();
    const bool pids_ok = std::all_of(counts.begin(), counts.end(), [&](const auto& c) {
        return std::find(live.begin(), live.end(), static_cast<int>(c.first)) != live.end();
    });
    const bool every_worker = counts.size() == std::min(o.workers, o.rows);
    const bool ok = pids_ok && every_worker && !counts.count(42.0) && !counts.count(-1.0) &&
                    total == o.rows * o.cols && one_copy;
    std::printf(
        "\nchecks: no 42 left: %s; every row one PID: %s; counts add up to %zu: %s; "
        "every worker did rows: %s; one copy in memory: %s\n",
        counts.count(42.0) ? "NO" : "yes", counts.count(-1.0) ? "NO" : "yes", o.rows * o.cols,
        total == o.rows * o.cols ? "yes" : "NO", every_worker ? "yes" : "NO",
        one_copy ? "yes" : "NO");
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"np_shared: the book's 6.4 GB shared array, filled in place by a pool of workers"};
    app.option_defaults()->always_capture_default();  // --help shows the defaults
    options opt;
    add_options(app, opt);
    CLI11_PARSE(app, argc, argv);

    const std::string name = "shmpool_np_shared_" + std::to_string(::getpid());
    try {
        shmpool::process_pool pool(opt.workers);  // first: forked while this process has one thread
        scale_down_to_fit(opt);
        const std::size_t bytes = opt.rows * opt.cols * sizeof(double);
        const std::size_t available_before = meminfo_bytes("MemAvailable");

        phase_times t;
        const auto grid = create_and_fill(name, opt, t);
        write_pids(pool, grid, opt, t);
        const bool one_copy = print_sharing_proof(all_pids(pool), grid.path(), bytes);
        print_memory_growth(available_before, bytes);

        const std::map<double, std::size_t> counts = count_values(pool, grid, opt, t);
        const bool ok = print_checks(counts, pool, opt, one_copy);
        std::printf("times: create %.2f s, fill %.2f s, pool map %.2f s, verify %.2f s\n", t.create,
                    t.fill, t.map, t.verify);
        std::printf("%s\n", ok ? "OK" : "FAILED");
        shmpool::shared_array<double>::remove(name);
        return ok ? 0 : 1;
    } catch (const shmpool::error& e) {
        std::fprintf(stderr, "np_shared: %s\n", e.what());
        try {
            shmpool::shared_array<double>::remove(name);
        } catch (...) {
        }
        return 1;
    }
}
