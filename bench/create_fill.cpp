// Creating and filling a shared array against a plain memset of a private buffer of the same
// size: what taking the space at creation costs (populate: every page allocated and mapped from
// one thread per core; no populate: posix_fallocate, then a page fault per page). Runs the
// variants interleaved, N rounds, and prints the median, min and max of each.
//
//   create_fill [--mib 1024] [--rounds 5]
#include <sys/mman.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <shmpool/shmpool.hpp>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double time_it(const std::function<void()>& f) {
    const auto start = clock_type::now();
    f();
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// A private anonymous buffer, first touched by memset (what malloc + memset of 1 GiB does).
void private_memset(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    std::memset(p, 42, bytes);
    ::munmap(p, bytes);
}

void shared_create_fill(const std::string& name, std::size_t bytes, bool populate) {
    auto a = shmpool::shared_array<double>::create(name, {bytes / sizeof(double)},
                                                   {.populate = populate});
    a.view().fill(42.0);
    shmpool::shared_array<double>::remove(name);
}

struct series {
    const char* label;
    std::function<void()> run;
    std::vector<double> seconds;
};

}  // namespace

int main(int argc, char** argv) {
    std::size_t mib = 1024;
    bench::run_options run;
    CLI::App app{"create_fill: creating and filling a shared array against a private memset"};
    app.add_option("--mib", mib, "size of the array in MiB")->check(CLI::PositiveNumber);
    bench::add_rounds_option(app, run);
    bench::parse_run_options(app, run, argc, argv);
    const int rounds = run.rounds;
    const std::size_t bytes = mib << 20;
    const std::string name = "shmpool_bench_create_fill_" + std::to_string(::getpid());
    std::vector<series> all = {
        {"private memset (baseline)", [&] { private_memset(bytes); }, {}},
        {"create + fill (populate)", [&] { shared_create_fill(name, bytes, true); }, {}},
        {"create + fill (no populate)", [&] { shared_create_fill(name, bytes, false); }, {}},
    };
    for (int r = 0; r < rounds; ++r)
        for (series& s : all) s.seconds.push_back(time_it(s.run));

    std::printf("%zu MiB, %d rounds, interleaved\n%-30s %9s %9s %9s %10s %9s\n", mib, rounds,
                "variant", "median s", "min s", "max s", "GB/s", "vs base");
    double base = 0;
    for (series& s : all) {
        std::sort(s.seconds.begin(), s.seconds.end());
        const double median = s.seconds[s.seconds.size() / 2];
        if (base == 0) base = median;
        std::printf("%-30s %9.3f %9.3f %9.3f %10.2f %8.2fx\n", s.label, median, s.seconds.front(),
                    s.seconds.back(), static_cast<double>(bytes) / median / 1e9, median / base);
    }
    return 0;
}
