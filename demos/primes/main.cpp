// The book's cooperative prime search ("High Performance Python", ch. 9): is n prime? Trial
// division by the odd numbers up to sqrt(n), done serially, by a naive pool of 4 ranges (every
// range runs to its end), by the "less naive" pool (a cheap serial check of small factors first),
// and by that pool with a shared "factor found" flag that each worker polls every N candidates
// and the finder raises: through a shmpool::value<bool> (its lock), a raw_value<uint8_t>
// (relaxed atomic load), a byte in a file-backed mapping (the book's mmap), a shmpool::event,
// and the pool's own cancel_call() / call_cancelled(). The flag lets non-primes stop early and
// must cost next to nothing on primes (the book measured 38% in Python; the target here is 2%).
//
// It prints the time of every method on every number and the flag's overhead on primes, and
// checks every answer against the serial one (and the book's: the last two numbers are prime),
// and that on a prime every method tested every candidate: a flag that stopped a prime's search
// early would still answer "prime", so the answer alone cannot show it.
//
// The files: main.cpp (options, the timed runs), search.* (the trial division), flags.hpp (the
// shared flags), pool_search.hpp (the search in the pool), methods.* (the methods, the numbers,
// the shared objects), report.* (the self-check and what is printed).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>

#include "methods.hpp"
#include "report.hpp"

using namespace primes;

namespace {

/// Accepts 0 to 2^64 - 1 written in decimal; CLI11 alone would wrap "-5" and saturate 2^64.
const CLI::Validator whole_u64(
    [](std::string& text) -> std::string {
        u64 v = 0;
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc{} || at != end || text.empty())
            return "not a whole number from 0 to 18446744073709551615: " + text;
        return {};
    },
    "UINT64");

void add_options(CLI::App& app, settings& s) {
    app.add_option("--workers", s.workers,
                   "worker processes, and ranges the candidates are split into")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--check-every", s.check_every,
                   "candidates a worker tests between two looks at the flag")
        ->check(CLI::Range(u64{1}, u64{1} << 40))
        ->capture_default_str();
    app.add_option("--precheck", s.precheck,
                   "the less naive pool first tries the divisors up to this one serially")
        ->capture_default_str();
    app.add_option("--repeat", s.repeat, "runs of each method on each number (the median is shown)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    app.add_option("--numbers", s.numbers,
                   "comma-separated numbers to test instead of the book's five")
        ->delimiter(',')
        ->check(whole_u64);
    app.add_flag("--quick", s.quick,
                 "smoke test: small numbers (and the book's smallest), one run each");
}

void print_setup(const settings& s) {
    std::printf(
        "%zu workers (%zu cores usable), %zu ranges, pre-check up to %llu, flags "
        "polled every %llu candidates, median of %d run%s\n\n",
        s.workers, shmpool::process_pool::usable_cores(), s.workers,
        static_cast<unsigned long long>(s.precheck), static_cast<unsigned long long>(s.check_every),
        s.repeat, s.repeat > 1 ? "s" : "");
    std::fflush(stdout);
}

/// Runs every method on every number, `s.repeat` times. The runs are interleaved (each run does
/// every number and method, starting with another method each time) so that a slow spell of
/// the machine spreads over all the methods instead of landing on one.
results time_methods(shmpool::process_pool& pool, const shared_objects& objs, const settings& s) {
    const std::size_t count = s.numbers.size();
    results r{std::vector<std::array<std::vector<double>, method_count>>(count),
              std::vector<std::array<answer, method_count>>(count),
              std::vector<std::array<bool, method_count>>(count), 0};
    for (auto& row : r.agree) row.fill(true);
    const auto all_start = std::chrono::steady_clock::now();
    for (int rep = 0; rep < s.repeat; ++rep)
        for (std::size_t i = 0; i < count; ++i)
            for (std::size_t k = 0; k < method_count; ++k) {
                const std::size_t m = (k + static_cast<std::size_t>(rep)) % method_count;
                const auto start = std::chrono::steady_clock::now();
                const answer a = run_method(m, s.numbers[i], pool, objs, s);
                const std::chrono::duration<double, std::milli> took =
                    std::chrono::steady_clock::now() - start;
                r.ms[i][m].push_back(took.count());
                if (rep == 0)
                    r.answers[i][m] = a;
                else if (a.prime != r.answers[i][m].prime)
                    r.agree[i][m] = false;
            }
    const std::chrono::duration<double> all_took = std::chrono::steady_clock::now() - all_start;
    r.seconds = all_took.count();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "shmpool primes demo: the book's cooperative prime search, serial, in a process "
        "pool, and with a shared \"factor found\" flag"};
    app.option_defaults()->always_capture_default();  // --help shows the defaults
    settings s;
    add_options(app, s);
    CLI11_PARSE(app, argc, argv);
    if (s.numbers.empty()) s.numbers = s.quick ? quick_numbers : book_numbers;
    if (s.quick && app.count("--repeat") == 0) s.repeat = 1;

    cleanup shared;
    try {
        shmpool::process_pool pool(s.workers);  // forked first, while this process has one thread
        const shared_objects objs =
            make_shared_objects(s.workers, std::to_string(::getpid()), shared);
        print_setup(s);
        const results r = time_methods(pool, objs, s);
        // The cost of one poll, measured on the book's first prime, whatever the list.
        const poll_costs cost = measure_poll_costs(pool, objs);
        const std::vector<std::string> problems = self_check(s.numbers, r);
        print_tables(s, r);
        print_flag_costs(s, r, cost);
        return print_verdict(s, r, problems);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "primes: %s\n", e.what());
        return 1;
    }
}
