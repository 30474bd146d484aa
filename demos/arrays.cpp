// Shows shmpool's named shared arrays and its process pool: the parent creates a ROWS x COLS
// float64 array in /dev/shm and fills it with 42; the pool's workers take the row indices, check
// that each row still holds 42 and write their PID over it, in place; the parent counts the
// PIDs and checks that no 42 is left. (The book's full-size version is the np_shared demo.)
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <shmpool/shmpool.hpp>
#include <string>
#include <xtensor/xview.hpp>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"shmpool arrays demo: one named shared array, N processes writing in place"};
    app.option_defaults()->always_capture_default();  // --help shows the defaults
    std::size_t rows = 10000, cols = 8000, workers = 4;
    bool keep = false;
    app.add_option("--rows", rows, "rows of the array")->check(CLI::PositiveNumber);
    app.add_option("--cols", cols, "columns of the array")->check(CLI::PositiveNumber);
    app.add_option("--workers", workers, "processes that write rows")->check(CLI::Range(1, 64));
    app.add_flag("--keep", keep,
                 "keep the array after the demo (persistent), for numpy; `shmpool rm NAME` "
                 "removes it");
    CLI11_PARSE(app, argc, argv);

    const std::string name = "shmpool_demo_arrays_" + std::to_string(::getpid());
    try {
        shmpool::process_pool pool(workers);  // forked first, while this process has one thread
        auto start = std::chrono::steady_clock::now();
        auto grid = shmpool::shared_array<double>::create(
            name, {rows, cols}, shmpool::create_options{.persistent = keep});
        std::printf("created /dev/shm/%s: %zu x %zu float64, %.1f MB in %.3f s\n", name.c_str(),
                    rows, cols, static_cast<double>(grid.size() * sizeof(double)) / 1e6,
                    seconds_since(start));

        start = std::chrono::steady_clock::now();
        grid.view().fill(42.0);
        std::printf("filled with 42 in %.3f s\n", seconds_since(start));

        start = std::chrono::steady_clock::now();  // static: each worker gets its share of rows
        const auto result = pool.for_each(
            0, rows,
            [grid](std::size_t row) {
                auto r = xt::row(grid.view(), row);
                if (r(0) != 42.0) throw std::runtime_error("row written twice, or never filled");
                r.fill(static_cast<double>(::getpid()));
            },
            shmpool::call_options{.kind = shmpool::schedule::static_}.touch_rows(grid));
        std::printf("%zu workers wrote their PID over %zu rows in %.3f s\n", workers,
                    result.completed, seconds_since(start));

        start = std::chrono::steady_clock::now();
        std::map<double, std::size_t> counts;  // few distinct values: count runs, not elements
        const double* v = grid.data();
        for (std::size_t i = 0, n = grid.size(); i < n;) {
            std::size_t j = i + 1;
            while (j < n && v[j] == v[i]) ++j;
            counts[v[i]] += j - i;
            i = j;
        }
        std::printf("counted in %.3f s\n\n%10s | %12s\n", seconds_since(start), "value", "count");
        std::size_t total = 0;
        for (const auto& [value, n] : counts) {
            std::printf("%10.0f | %12zu\n", value, n);
            total += n;
        }
        const bool ok = counts.size() == workers && !counts.count(42.0) && total == rows * cols;
        std::printf("\n%s: %zu distinct PIDs, %zu values, no 42 left: %s\n", ok ? "OK" : "FAILED",
                    counts.size(), total, counts.count(42.0) ? "no" : "yes");
        if (keep) {
            std::printf(
                "kept /dev/shm/%s: numpy sees the same pages with numpy.load('/dev/shm/%s', "
                "mmap_mode='r+'); `shmpool rm %s` removes it\n",
                name.c_str(), name.c_str(), name.c_str());
        } else {
            shmpool::shared_array<double>::remove(name);
            std::printf("removed /dev/shm/%s (--keep keeps it, for numpy.load)\n", name.c_str());
        }
        return ok ? 0 : 1;
    } catch (const shmpool::error& e) {
        std::fprintf(stderr, "arrays: %s\n", e.what());
        return 1;
    }
}
