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
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <shmpool/event.hpp>
#include <shmpool/process_pool.hpp>
#include <shmpool/segment.hpp>
#include <shmpool/shared_array.hpp>
#include <shmpool/value.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using u64 = std::uint64_t;

// --- The search ------------------------------------------------------------------------------

/// floor(sqrt(n)), exact for every 64-bit n.
u64 isqrt(u64 n) {
    auto r = static_cast<u64>(std::sqrt(static_cast<long double>(n)));
    while (r > 0 && r > n / r) --r;
    while (r + 1 <= n / (r + 1)) ++r;
    return r;
}

/// Tests the candidate divisors d = lo + 2j for j in [j0, j1) in order. Every `every`
/// candidates (never when 0) it asks stopped() and gives up when that says so. Returns the
/// first divisor of n found, or 0; `tested` is the number of candidates tried.
template <class Stopped>
u64 search(u64 n, u64 lo, u64 j0, u64 j1, u64 every, Stopped stopped, u64& tested) {
    u64 j = j0;
    while (j < j1) {
        const u64 block_end = every == 0 ? j1 : std::min(j1, j + every);
        for (u64 d = lo + 2 * j; j < block_end; ++j, d += 2) {
            if (n % d == 0) {
                tested = j - j0 + 1;
                return d;
            }
        }
        if (j < j1 && stopped()) break;
    }
    tested = j - j0;
    return 0;
}

/// What a method says about n.
struct answer {
    bool prime = false;
    u64 factor = 0;  ///< a divisor of n in (1, n) when not prime (0 for n < 2)
    u64 tested = 0;  ///< candidate divisors tried, over all processes
};

/// The odd candidates of n: d = lo + 2j, j in [0, count). Empty when n is trivial.
struct candidates {
    u64 n = 0, lo = 3, count = 0;
};

/// The answer for n < 3 and even n (no division needed), or nothing.
std::optional<answer> trivial(u64 n) {
    if (n < 2) return answer{false, 0, 0};
    if (n == 2) return answer{true, 0, 0};
    if (n % 2 == 0) return answer{false, 2, 0};
    return std::nullopt;
}

candidates candidates_of(u64 n) {
    const u64 r = isqrt(n);
    return {n, 3, r >= 3 ? (r - 3) / 2 + 1 : 0};
}

/// Candidates with d <= limit come first: how many there are.
u64 candidates_up_to(const candidates& c, u64 limit) {
    return std::min(c.count, limit >= 3 ? (limit - 3) / 2 + 1 : 0);
}

answer serial(u64 n) {
    if (auto t = trivial(n)) return *t;
    const candidates c = candidates_of(n);
    answer a;
    a.factor = search(
        c.n, c.lo, 0, c.count, 0, [] { return false; }, a.tested);
    a.prime = a.factor == 0;
    return a;
}

// --- The flags ---------------------------------------------------------------------------------
// Each is a small, trivially copyable struct carried into the workers inside the task. A task
// calls bind() once, which finds the shared memory in the worker, and then polls the result's
// stopped() in its loop; the finder calls raise(), the parent reset() before each search.

struct no_flag {
    const no_flag& bind() const { return *this; }
    bool stopped() const { return false; }
    void raise() const {}
    void reset() const {}
};

/// A shmpool::value<bool>: every poll is a load() that takes its lock (Python's Value with its
/// Lock).
struct value_flag {
    shmpool::value<bool> v;
    const value_flag& bind() const { return *this; }
    bool stopped() const { return v.load(); }
    void raise() const { v.store(true); }
    void reset() const { v.store(false); }
};

/// A relaxed atomic load of a byte, once its address in this process is known.
struct byte_poller {
    std::uint8_t* byte;
    bool stopped() const {
        return std::atomic_ref<std::uint8_t>(*byte).load(std::memory_order_relaxed) != 0;
    }
};

/// A shmpool::raw_value<uint8_t>, no lock (Python's RawValue).
struct raw_flag {
    shmpool::raw_value<std::uint8_t> v;
    byte_poller bind() const { return {v.data()}; }
    void raise() const { v.store(1); }
    void reset() const { v.store(0); }
};

/// One byte of a file-backed .npy mapping (the book's mmap'ed file).
struct file_flag {
    shmpool::shared_array<std::uint8_t> a;
    byte_poller bind() const { return {a.data()}; }
    void raise() const { std::atomic_ref<std::uint8_t>(*a.data()).store(1); }
    void reset() const { std::atomic_ref<std::uint8_t>(*a.data()).store(0); }
};

/// A shmpool::event constructed in a small shared array.
struct event_flag {
    shmpool::shared_array<std::uint8_t> a;
    shmpool::event& ev() const {
        return *std::launder(reinterpret_cast<shmpool::event*>(a.data()));
    }
    struct poller {
        const shmpool::event* ev;
        bool stopped() const { return ev->is_set(); }
    };
    poller bind() const { return {&ev()}; }
    void raise() const { ev().set(); }
    void reset() const { ev().clear(); }
};

/// The pool's own cancellation: the finder cancels the call, the others poll call_cancelled().
struct cancel_flag {
    const cancel_flag& bind() const { return *this; }
    bool stopped() const { return shmpool::call_cancelled(); }
    void raise() const { shmpool::cancel_call(); }
    void reset() const {}
};

// --- The pool search -------------------------------------------------------------------------

/// Per range: the divisor found (0: none) and the candidates tested, written by the workers.
struct range_results {
    shmpool::raw_array<u64> factor;
    shmpool::raw_array<u64> tested;
};

/// Splits candidates [j0, j0 + count) of c into `ranges` contiguous ranges, one per pool index
/// (static scheduling: one per worker), searches them in the pool and gathers the answer.
template <class Flag>
answer pool_search(shmpool::process_pool& pool, const range_results& out, const candidates& c,
                   u64 j0, std::size_t ranges, u64 every, const Flag& flag) {
    for (std::size_t k = 0; k < ranges; ++k) {
        out.factor[k].store(0);
        out.tested[k].store(0);
    }
    flag.reset();
    const u64 count = c.count - j0;
    const shmpool::call_options opts{
        .kind = shmpool::schedule::static_, .chunk = 1, .show_progress = shmpool::progress::never};
    pool.for_each(
        0, ranges,
        [out, c, j0, count, ranges, every, flag](std::size_t k) {
            const u64 first = j0 + count * k / ranges, last = j0 + count * (k + 1) / ranges;
            u64 tested = 0;
            const auto poll = flag.bind();
            const u64 f = search(
                c.n, c.lo, first, last, every, [&] { return poll.stopped(); }, tested);
            out.tested[k].store(tested, std::memory_order_relaxed);
            if (f != 0) {
                out.factor[k].store(f, std::memory_order_relaxed);
                flag.raise();
            }
        },
        opts);
    answer a;
    for (std::size_t k = 0; k < ranges; ++k) {
        a.tested += out.tested[k].load();
        if (a.factor == 0) a.factor = out.factor[k].load();
    }
    a.prime = a.factor == 0;
    return a;
}

/// The naive pool: every candidate range in the pool, nothing first.
template <class Flag>
answer naive_pool(shmpool::process_pool& pool, const range_results& out, u64 n, std::size_t ranges,
                  u64 every, const Flag& flag) {
    if (auto t = trivial(n)) return *t;
    return pool_search(pool, out, candidates_of(n), 0, ranges, every, flag);
}

/// The less naive pool: the candidates up to `precheck` serially, then the rest in the pool.
template <class Flag>
answer less_naive_pool(shmpool::process_pool& pool, const range_results& out, u64 n,
                       std::size_t ranges, u64 precheck, u64 every, const Flag& flag) {
    if (auto t = trivial(n)) return *t;
    const candidates c = candidates_of(n);
    const u64 small = candidates_up_to(c, precheck);
    answer a;
    a.factor = search(
        c.n, c.lo, 0, small, 0, [] { return false; }, a.tested);
    if (a.factor != 0 || small == c.count) {
        a.prime = a.factor == 0;
        return a;
    }
    const u64 before = a.tested;
    a = pool_search(pool, out, c, small, ranges, every, flag);
    a.tested += before;
    return a;
}

// --- The flag's own cost, free of scheduling noise --------------------------------------------

constexpr std::size_t flag_count = 5;  // value, raw_value, mmap, event, cancel

/// Measured in a worker: nanoseconds per candidate tested and per poll of each flag.
struct poll_costs {
    double candidate_ns = 0;
    std::array<double, flag_count> poll_ns{};
};

template <class F>
double ns_per_call(F f, u64 calls) {
    const auto start = std::chrono::steady_clock::now();
    f(calls);
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    return took.count() / static_cast<double>(calls);
}

template <class Flag>
double ns_per_poll(const Flag& flag) {
    const auto poll = flag.bind();
    return ns_per_call(
        [&](u64 calls) {
            u64 raised = 0;
            for (u64 i = 0; i < calls; ++i) raised += poll.stopped() ? 1 : 0;
            volatile u64 sink = raised;  // the loop's result is used
            static_cast<void>(sink);
        },
        1000000);
}

// --- Methods, timing, report -------------------------------------------------------------------

enum method : std::size_t {
    m_serial,
    m_naive,
    m_less_naive,
    m_value,
    m_raw,
    m_file,
    m_event,
    m_cancel,
    method_count
};

struct method_info {
    const char* column;
    const char* description;
};

constexpr std::array<method_info, method_count> methods{{
    {"serial", "one process, every odd candidate in turn"},
    {"naive", "the pool over the ranges, each range runs to its end"},
    {"less_naive", "serial pre-check of small factors, then the pool, no flag"},
    {"value", "less_naive + flag: shmpool::value<bool>, its lock taken at each poll"},
    {"raw_value", "less_naive + flag: shmpool::raw_value<uint8_t>, relaxed atomic load"},
    {"mmap", "less_naive + flag: a byte of a file-backed .npy mapping, atomic_ref load"},
    {"event", "less_naive + flag: a shmpool::event in a shared array, is_set()"},
    {"cancel", "less_naive + the pool's cancel_call(), others poll call_cancelled()"},
}};

constexpr bool is_flag(std::size_t m) { return m >= m_value; }

/// The book's numbers and what the book says they are.
const std::map<u64, bool> book_is_prime{
    {112272535095295ULL, false},   {100109100129100369ULL, false}, {100109100129101027ULL, false},
    {100109100129100151ULL, true}, {100109100129162907ULL, true},
};

const std::vector<u64> book_numbers{112272535095295ULL, 100109100129100369ULL,
                                    100109100129101027ULL, 100109100129100151ULL,
                                    100109100129162907ULL};

// Small enough for a smoke test: edge cases, a square whose factor is the last candidate
// (1000003^2, found in the pool) before two primes (a flag left raised would stop their search),
// and the book's smallest number.
const std::vector<u64> quick_numbers{
    1, 2, 9, 1000006000009ULL, 1000000007ULL, 999999999989ULL, 112272535095295ULL};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

std::string count_text(u64 x) {
    char buf[32];
    if (x < 10000)
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(x));
    else if (x < 10000000)
        std::snprintf(buf, sizeof buf, "%.1fk", static_cast<double>(x) / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.1fM", static_cast<double>(x) / 1e6);
    return buf;
}

std::string answer_text(u64 n, const answer& a) {
    if (a.prime) return "prime";
    if (a.factor == 0) return "neither";  // 0 and 1
    return std::to_string(a.factor) + " x " + std::to_string(n / a.factor);
}

/// Removes the shared objects this demo made, on every way out of main().
struct cleanup {
    std::vector<std::string> shm_names;
    std::string file;
    ~cleanup() {
        for (const auto& name : shm_names) {
            try {
                shmpool::raw_array<std::uint8_t>::remove(name);  // any kind: removes by name
            } catch (const std::exception&) {
                // never created, or already gone
            }
        }
        if (!file.empty()) {
            try {
                shmpool::shared_array<std::uint8_t>::remove(shmpool::file_path{file});
            } catch (const std::exception&) {
            }
            std::error_code ec;
            std::filesystem::remove(file, ec);
        }
    }
};

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "shmpool primes demo: the book's cooperative prime search, serial, in a process "
        "pool, and with a shared \"factor found\" flag"};
    std::size_t workers = 4;
    u64 check_every = 1000, precheck = 10000;
    int repeat = 3;
    std::vector<u64> numbers;
    bool quick = false;
    app.add_option("--workers", workers,
                   "worker processes, and ranges the candidates are split into")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    app.add_option("--check-every", check_every,
                   "candidates a worker tests between two looks at the flag")
        ->check(CLI::Range(u64{1}, u64{1} << 40))
        ->capture_default_str();
    app.add_option("--precheck", precheck,
                   "the less naive pool first tries the divisors up to this one serially")
        ->capture_default_str();
    app.add_option("--repeat", repeat, "runs of each method on each number (the median is shown)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    app.add_option("--numbers", numbers,
                   "comma-separated numbers to test instead of the book's five")
        ->delimiter(',')
        ->check(whole_u64);
    app.add_flag("--quick", quick,
                 "smoke test: small numbers (and the book's smallest), one run each");
    CLI11_PARSE(app, argc, argv);
    if (numbers.empty()) numbers = quick ? quick_numbers : book_numbers;
    if (quick && app.count("--repeat") == 0) repeat = 1;

    const std::string tag = std::to_string(::getpid());
    cleanup shared;
    try {
        shmpool::process_pool pool(workers);  // forked first, while this process has one thread

        // Each name is recorded before its object is made, so that a failure part way removes
        // what was made (removing a name that does not exist is harmless).
        shared.shm_names = {"shmpool_primes_factor_" + tag, "shmpool_primes_tested_" + tag};
        const range_results out{shmpool::raw_array<u64>::create(shared.shm_names[0], workers),
                                shmpool::raw_array<u64>::create(shared.shm_names[1], workers)};
        shared.shm_names.push_back("shmpool_primes_value_" + tag);
        const value_flag vflag{shmpool::value<bool>::create(shared.shm_names.back(), false)};
        shared.shm_names.push_back("shmpool_primes_raw_" + tag);
        const raw_flag rflag{shmpool::raw_value<std::uint8_t>::create(shared.shm_names.back(), 0)};
        shared.file =
            (std::filesystem::temp_directory_path() / ("shmpool_primes_flag_" + tag + ".npy"))
                .string();
        const file_flag fflag{
            shmpool::shared_array<std::uint8_t>::create(shmpool::file_path{shared.file}, {1})};
        shared.shm_names.push_back("shmpool_primes_event_" + tag);
        const event_flag eflag{shmpool::shared_array<std::uint8_t>::create(
            shared.shm_names.back(), {sizeof(shmpool::event)})};
        static_assert(alignof(shmpool::event) <= 64);  // array data is 64-byte aligned
        new (eflag.a.data()) shmpool::event;

        std::printf(
            "%zu workers (%zu cores usable), %zu ranges, pre-check up to %llu, flags "
            "polled every %llu candidates, median of %d run%s\n\n",
            workers, shmpool::process_pool::usable_cores(), workers,
            static_cast<unsigned long long>(precheck), static_cast<unsigned long long>(check_every),
            repeat, repeat > 1 ? "s" : "");
        std::fflush(stdout);

        const std::size_t count = numbers.size();
        std::vector<std::array<std::vector<double>, method_count>> ms(count);
        std::vector<std::array<answer, method_count>> answers(count);
        std::vector<std::array<bool, method_count>> agree(count);  // over all runs
        for (auto& row : agree) row.fill(true);

        auto run = [&](std::size_t m, u64 n) -> answer {
            const std::size_t r = workers;
            const u64 e = check_every, p = precheck;
            switch (m) {
                case m_serial:
                    return serial(n);
                case m_naive:
                    return naive_pool(pool, out, n, r, 0, no_flag{});
                case m_less_naive:
                    return less_naive_pool(pool, out, n, r, p, 0, no_flag{});
                case m_value:
                    return less_naive_pool(pool, out, n, r, p, e, vflag);
                case m_raw:
                    return less_naive_pool(pool, out, n, r, p, e, rflag);
                case m_file:
                    return less_naive_pool(pool, out, n, r, p, e, fflag);
                case m_event:
                    return less_naive_pool(pool, out, n, r, p, e, eflag);
                default:
                    return less_naive_pool(pool, out, n, r, p, e, cancel_flag{});
            }
        };

        const auto all_start = std::chrono::steady_clock::now();
        // Runs interleaved (each run does every number and method, starting with another
        // method each time) so that a slow spell of the machine spreads over all the methods
        // instead of landing on one.
        for (int rep = 0; rep < repeat; ++rep) {
            for (std::size_t i = 0; i < count; ++i) {
                for (std::size_t k = 0; k < method_count; ++k) {
                    const std::size_t m = (k + static_cast<std::size_t>(rep)) % method_count;
                    const auto start = std::chrono::steady_clock::now();
                    const answer a = run(m, numbers[i]);
                    const std::chrono::duration<double, std::milli> took =
                        std::chrono::steady_clock::now() - start;
                    ms[i][m].push_back(took.count());
                    if (rep == 0)
                        answers[i][m] = a;
                    else if (a.prime != answers[i][m].prime)
                        agree[i][m] = false;
                }
            }
        }
        const std::chrono::duration<double> all_took = std::chrono::steady_clock::now() - all_start;

        // The cost of one poll of each flag and of one candidate, measured in a worker (on the
        // book's first prime, whatever the list): what the flag costs without the noise of
        // scheduling 4 workers on a busy machine.
        vflag.reset(), rflag.reset(), fflag.reset(), eflag.reset();
        const poll_costs cost = pool.map(0, 1, [vflag, rflag, fflag, eflag](std::size_t) {
            poll_costs c;
            const u64 n = 100109100129100151ULL, lo = 100000001;  // no divisor below its root
            c.candidate_ns = ns_per_call(
                [&](u64 calls) {
                    u64 tested = 0;
                    if (search(
                            n, lo, 0, calls, 0, [] { return false; }, tested) != 0)
                        throw std::logic_error("the book's prime has a divisor?");
                },
                10000000);
            c.poll_ns = {ns_per_poll(vflag), ns_per_poll(rflag), ns_per_poll(fflag),
                         ns_per_poll(eflag), ns_per_poll(cancel_flag{})};
            return c;
        })[0];

        // Self-check.
        std::vector<std::string> problems;
        for (std::size_t i = 0; i < count; ++i) {
            const u64 n = numbers[i];
            const answer& ref = answers[i][m_serial];
            const u64 all = candidates_of(n).count;
            if (auto it = book_is_prime.find(n);
                it != book_is_prime.end() && it->second != ref.prime)
                problems.push_back(std::to_string(n) + ": serial says " +
                                   (ref.prime ? "prime" : "composite") + ", the book says " +
                                   (it->second ? "prime" : "composite"));
            for (std::size_t m = 0; m < method_count; ++m) {
                const answer& a = answers[i][m];
                const std::string who = std::to_string(n) + ", " + methods[m].column + ": ";
                if (a.prime != ref.prime || !agree[i][m])
                    problems.push_back(who + (a.prime ? "prime" : "composite") + ", serial says " +
                                       (ref.prime ? "prime" : "composite"));
                if (!a.prime && a.factor != 0 && (a.factor < 2 || a.factor >= n || n % a.factor))
                    problems.push_back(who + std::to_string(a.factor) + " is no factor");
                if (ref.prime && a.prime && !trivial(n) && a.tested != all)
                    problems.push_back(who + "a prime, but " + std::to_string(a.tested) + " of " +
                                       std::to_string(all) + " candidates tested");
            }
        }

        // Times.
        std::size_t numw = 6, answ = 6;
        for (std::size_t i = 0; i < count; ++i) {
            numw = std::max(numw, std::to_string(numbers[i]).size());
            answ = std::max(answ, answer_text(numbers[i], answers[i][m_serial]).size());
        }
        const int nw = static_cast<int>(numw), aw = static_cast<int>(answ);
        std::printf("time in ms (median of %d)\n%-*s  %-*s", repeat, nw, "number", aw, "answer");
        for (const auto& mi : methods) std::printf(" %10s", mi.column);
        std::printf("\n");
        for (std::size_t i = 0; i < count; ++i) {
            std::printf("%-*s  %-*s", nw, std::to_string(numbers[i]).c_str(), aw,
                        answer_text(numbers[i], answers[i][m_serial]).c_str());
            for (std::size_t m = 0; m < method_count; ++m) {
                const bool ok = answers[i][m].prime == answers[i][m_serial].prime && agree[i][m];
                std::printf(" %9.1f%c", median(ms[i][m]), ok ? ' ' : '!');
            }
            std::printf("\n");
        }

        // Work: what the flag saves, free of timing noise.
        std::printf(
            "\ncandidate divisors tested, all processes together (k = 1e3, M = 1e6)\n"
            "%-*s  %10s",
            nw, "number", "all");
        for (const auto& mi : methods) std::printf(" %10s", mi.column);
        std::printf("\n");
        for (std::size_t i = 0; i < count; ++i) {
            std::printf("%-*s  %10s", nw, std::to_string(numbers[i]).c_str(),
                        count_text(candidates_of(numbers[i]).count).c_str());
            for (std::size_t m = 0; m < method_count; ++m)
                std::printf(" %10s", count_text(answers[i][m].tested).c_str());
            std::printf("\n");
        }

        std::printf("\nmethods:\n");
        for (const auto& mi : methods) std::printf("  %-10s  %s\n", mi.column, mi.description);

        // The flag's cost on primes and its gain on the others, against less_naive, from the
        // fastest run of each: the machine's noise only ever adds time.
        std::array<double, method_count> prime_ms{}, composite_ms{};
        for (std::size_t i = 0; i < count; ++i) {
            if (trivial(numbers[i])) continue;
            auto& sum = answers[i][m_serial].prime ? prime_ms : composite_ms;
            for (std::size_t m = 0; m < method_count; ++m)
                sum[m] += *std::min_element(ms[i][m].begin(), ms[i][m].end());
        }
        std::printf(
            "\nthe flags against less_naive (fastest of %d: %.1f ms on primes, %.1f ms on "
            "the others),\nand the cost of one poll measured in a worker (a candidate "
            "costs %.2f ns,\nso a poll every %llu candidates adds poll / %.0f ns):\n",
            repeat, prime_ms[m_less_naive], composite_ms[m_less_naive], cost.candidate_ns,
            static_cast<unsigned long long>(check_every),
            cost.candidate_ns * static_cast<double>(check_every));
        std::printf("  %-10s %19s %19s %10s %16s\n", "flag", "time on primes", "on the others",
                    "one poll", "poll overhead");
        for (std::size_t m = 0; m < method_count; ++m) {
            if (!is_flag(m)) continue;
            char on_primes[32] = "-", on_others[32] = "-";
            if (prime_ms[m_less_naive] > 0)
                std::snprintf(on_primes, sizeof on_primes, "%+.1f%%",
                              100 * (prime_ms[m] / prime_ms[m_less_naive] - 1));
            if (composite_ms[m_less_naive] > 0)
                std::snprintf(on_others, sizeof on_others, "%.0f%%",
                              100 * composite_ms[m] / composite_ms[m_less_naive]);
            const double poll = cost.poll_ns[m - m_value];
            std::printf("  %-10s %19s %19s %7.1f ns %15.2f%%\n", methods[m].column, on_primes,
                        on_others, poll,
                        100 * poll / (cost.candidate_ns * static_cast<double>(check_every)));
        }
        // The headline: the raw_value flag, the book's RawValue.
        const double poll_overhead = 100 * cost.poll_ns[m_raw - m_value] /
                                     (cost.candidate_ns * static_cast<double>(check_every));
        if (prime_ms[m_less_naive] > 0) {
            const double overhead = 100 * (prime_ms[m_raw] / prime_ms[m_less_naive] - 1);
            std::printf(
                "flag overhead on primes: %.1f%% (target < 2%%) measured end to end, "
                "%.2f%% from the cost of a poll; raw_value, a relaxed load every %llu "
                "candidates%s\n",
                overhead, poll_overhead, static_cast<unsigned long long>(check_every),
                prime_ms[m_less_naive] < 100 ? "\n  (the primes here are too small for "
                                               "the end-to-end figure: see the default run)"
                : overhead < 2               ? ""
                                             : "\n  (above target end to end: timing noise of the "
                                               "machine; the poll's own cost is the second figure)");
        } else {
            std::printf(
                "flag overhead on primes: no prime above 3 in the list, %.2f%% from the "
                "cost of a poll (target < 2%%)\n",
                poll_overhead);
        }

        std::printf("\n%zu number%s x %zu methods x %d run%s in %.1f s\n", count,
                    count > 1 ? "s" : "", static_cast<std::size_t>(method_count), repeat,
                    repeat > 1 ? "s" : "", all_took.count());
        if (!problems.empty()) {
            std::printf("FAILED:\n");
            for (const auto& p : problems) std::printf("  %s\n", p.c_str());
            return 1;
        }
        std::printf(
            "OK: every method agrees with the serial search%s; on primes every method "
            "tested every candidate\n",
            std::any_of(numbers.begin(), numbers.end(),
                        [](u64 n) { return book_is_prime.count(n) != 0; })
                ? " and with the book"
                : "");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "primes: %s\n", e.what());
        return 1;
    }
}
