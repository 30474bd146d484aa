// Shows shmpool's named shared arrays: the parent creates a ROWS x COLS float64 array in
// /dev/shm and fills it with 42; forked children attach to it by name and each writes its PID
// over its share of the rows; the parent counts the PIDs and checks that no 42 is left.
// Until the process pool lands, the children are plain fork()s.
#include <sys/wait.h>
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

// A child: attach by name (as an unrelated process would), write the PID over rows [first, last).
int fill_rows(const std::string& name, std::size_t first, std::size_t last) {
    auto grid = shmpool::shared_array<double>::open(name);
    const double pid = static_cast<double>(::getpid());
    for (std::size_t row = first; row < last; ++row) {
        auto r = xt::row(grid.view(), row);
        if (r(0) != 42.0) return 1;  // written twice, or never filled
        r.fill(pid);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"shmpool arrays demo: one named shared array, N processes writing in place"};
    std::size_t rows = 10000, cols = 8000, workers = 4;
    app.add_option("--rows", rows, "rows of the array")->check(CLI::PositiveNumber);
    app.add_option("--cols", cols, "columns of the array")->check(CLI::PositiveNumber);
    app.add_option("--workers", workers, "processes that write rows")->check(CLI::Range(1, 64));
    CLI11_PARSE(app, argc, argv);

    const std::string name = "shmpool_demo_arrays_" + std::to_string(::getpid());
    try {
        auto start = std::chrono::steady_clock::now();
        auto grid = shmpool::shared_array<double>::create(name, {rows, cols});
        std::printf("created /dev/shm/%s: %zu x %zu float64, %.1f MB in %.3f s\n", name.c_str(),
                    rows, cols, static_cast<double>(grid.size() * sizeof(double)) / 1e6,
                    seconds_since(start));

        start = std::chrono::steady_clock::now();
        grid.view().fill(42.0);
        std::printf("filled with 42 in %.3f s\n", seconds_since(start));

        start = std::chrono::steady_clock::now();
        std::fflush(stdout);
        std::vector<pid_t> children;
        for (std::size_t w = 0; w < workers; ++w) {
            const pid_t pid = ::fork();
            if (pid == 0) ::_exit(fill_rows(name, rows * w / workers, rows * (w + 1) / workers));
            children.push_back(pid);
        }
        bool children_ok = true;
        for (pid_t pid : children) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            children_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        std::printf("%zu processes wrote their PID over every row in %.3f s\n", workers,
                    seconds_since(start));

        start = std::chrono::steady_clock::now();
        std::map<double, std::size_t> counts;
        for (std::size_t i = 0; i < grid.size(); ++i) ++counts[grid.data()[i]];
        std::printf("counted in %.3f s\n\n%10s | %12s\n", seconds_since(start), "value", "count");
        std::size_t total = 0;
        for (const auto& [value, n] : counts) {
            std::printf("%10.0f | %12zu\n", value, n);
            total += n;
        }
        const bool ok = children_ok && counts.size() == workers && !counts.count(42.0) &&
                        total == rows * cols;
        std::printf("\n%s: %zu distinct PIDs, %zu values, no 42 left: %s\n",
                    ok ? "OK" : "FAILED", counts.size(), total, counts.count(42.0) ? "no" : "yes");
        std::printf("numpy sees the same pages: numpy.load('/dev/shm/%s', mmap_mode='r+')\n",
                    name.c_str());
        shmpool::shared_array<double>::remove(name);
        return ok ? 0 : 1;
    } catch (const shmpool::error& e) {
        std::fprintf(stderr, "arrays: %s\n", e.what());
        return 1;
    }
}
