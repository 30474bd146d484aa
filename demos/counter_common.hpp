// What the counter demos share: their options (--procs, --count), starting the processes, and
// the report: what was done, the expected and actual count, the time, and the exit status.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace counter_demo {

struct options {
    int procs = 4;      // the book's 4 processes
    long count = 1000;  // each adding 1, 1,000 times
};

/// Parses --procs and --count; exits on --help or bad input.
inline options parse(int argc, char** argv, const std::string& what) {
    CLI::App app{what};
    app.option_defaults()->always_capture_default();  // --help shows the defaults
    options o;
    app.add_option("--procs", o.procs, "processes that increment the counter")
        ->check(CLI::Range(1, 256));
    app.add_option("--count", o.count, "increments per process")->check(CLI::PositiveNumber);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    return o;
}

/// Forks `procs` processes that each run `work()` and waits for them; returns the seconds it
/// took, or -1 if a process failed.
template <class Work>
double run_processes(int procs, Work work) {
    std::fflush(nullptr);
    const auto start = std::chrono::steady_clock::now();
    for (int p = 0; p < procs; ++p) {
        if (::fork() == 0) {
            int rc = 0;
            try {
                work();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "process %d: %s\n", ::getpid(), e.what());
                rc = 1;
            }
            ::_exit(rc);
        }
    }
    bool ok = true;
    int status = 0;
    while (::wait(&status) > 0) ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    return ok ? took.count() : -1;
}

/// Prints the outcome; returns the exit status: non-zero when a variant that must be exact is
/// not, or when a process failed.
inline int report(const std::string& variant, const options& o, long actual, double seconds,
                  bool must_be_exact) {
    const long expected = static_cast<long>(o.procs) * o.count;
    std::printf(
        "%s\n  %d processes x %ld increments\n  expected %ld, got %ld (%s)\n"
        "  %.1f ms, %.3f us per increment\n",
        variant.c_str(), o.procs, o.count, expected, actual, actual == expected ? "exact" : "WRONG",
        seconds * 1e3, seconds * 1e6 / static_cast<double>(expected));
    if (seconds < 0) return 1;
    if (must_be_exact && actual != expected) return 1;
    return 0;
}

}  // namespace counter_demo
