// demos/primes: the self-check and the printed report (report.hpp).
#include "report.hpp"

#include <algorithm>
#include <cstdio>

namespace primes {
namespace {

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

const char* kind(bool prime) { return prime ? "prime" : "composite"; }

/// The problems of method `m`'s answer on numbers[i].
void check_method(u64 n, std::size_t m, const results& r, std::size_t i,
                  std::vector<std::string>& problems) {
    const answer& ref = r.answers[i][m_serial];
    const answer& a = r.answers[i][m];
    const std::string who = std::to_string(n) + ", " + methods[m].column + ": ";
    if (a.prime != ref.prime || !r.agree[i][m])
        problems.push_back(who + kind(a.prime) + ", serial says " + kind(ref.prime));
    if (!a.prime && a.factor != 0 && (a.factor < 2 || a.factor >= n || n % a.factor))
        problems.push_back(who + std::to_string(a.factor) + " is no factor");
    const u64 all = candidates_of(n).count;
    if (ref.prime && a.prime && !trivial(n) && a.tested != all)
        problems.push_back(who + "a prime, but " + std::to_string(a.tested) + " of " +
                           std::to_string(all) + " candidates tested");
}

/// The widths of the columns "number" and "answer".
std::pair<int, int> column_widths(const std::vector<u64>& numbers, const results& r) {
    std::size_t numw = 6, answ = 6;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        numw = std::max(numw, std::to_string(numbers[i]).size());
        answ = std::max(answ, answer_text(numbers[i], r.answers[i][m_serial]).size());
    }
    return {static_cast<int>(numw), static_cast<int>(answ)};
}

void print_times(const settings& s, const results& r, int nw, int aw) {
    std::printf("time in ms (median of %d)\n%-*s  %-*s", s.repeat, nw, "number", aw, "answer");
    for (const auto& mi : methods) std::printf(" %10s", mi.column);
    std::printf("\n");
    for (std::size_t i = 0; i < s.numbers.size(); ++i) {
        const answer& ref = r.answers[i][m_serial];
        std::printf("%-*s  %-*s", nw, std::to_string(s.numbers[i]).c_str(), aw,
                    answer_text(s.numbers[i], ref).c_str());
        for (std::size_t m = 0; m < method_count; ++m) {
            const bool ok = r.answers[i][m].prime == ref.prime && r.agree[i][m];
            std::printf(" %9.1f%c", median(r.ms[i][m]), ok ? ' ' : '!');
        }
        std::printf("\n");
    }
}

// Work: what the flag saves, free of timing noise.
void print_work(const settings& s, const results& r, int nw) {
    std::printf(
        "\ncandidate divisors tested, all processes together (k = 1e3, M = 1e6)\n"
        "%-*s  %10s",
        nw, "number", "all");
    for (const auto& mi : methods) std::printf(" %10s", mi.column);
    std::printf("\n");
    for (std::size_t i = 0; i < s.numbers.size(); ++i) {
        std::printf("%-*s  %10s", nw, std::to_string(s.numbers[i]).c_str(),
                    count_text(candidates_of(s.numbers[i]).count).c_str());
        for (std::size_t m = 0; m < method_count; ++m)
            std::printf(" %10s", count_text(r.answers[i][m].tested).c_str());
        std::printf("\n");
    }
}

/// The fastest run of each method, summed over the primes and over the other numbers (the
/// machine's noise only ever adds time).
struct fastest_sums {
    std::array<double, method_count> prime_ms{}, composite_ms{};
};

fastest_sums sum_fastest(const settings& s, const results& r) {
    fastest_sums out;
    for (std::size_t i = 0; i < s.numbers.size(); ++i) {
        if (trivial(s.numbers[i])) continue;
        auto& sum = r.answers[i][m_serial].prime ? out.prime_ms : out.composite_ms;
        for (std::size_t m = 0; m < method_count; ++m)
            sum[m] += *std::min_element(r.ms[i][m].begin(), r.ms[i][m].end());
    }
    return out;
}

void print_flag_rows(const settings& s, const fastest_sums& f, const poll_costs& cost) {
    std::printf("  %-10s %19s %19s %10s %16s\n", "flag", "time on primes", "on the others",
                "one poll", "poll overhead");
    for (std::size_t m = 0; m < method_count; ++m) {
        if (!is_flag(m)) continue;
        char on_primes[32] = "-", on_others[32] = "-";
        if (f.prime_ms[m_less_naive] > 0)
            std::snprintf(on_primes, sizeof on_primes, "%+.1f%%",
                          100 * (f.prime_ms[m] / f.prime_ms[m_less_naive] - 1));
        if (f.composite_ms[m_less_naive] > 0)
            std::snprintf(on_others, sizeof on_others, "%.0f%%",
                          100 * f.composite_ms[m] / f.composite_ms[m_less_naive]);
        const double poll = cost.poll_ns[m - m_value];
        std::printf("  %-10s %19s %19s %7.1f ns %15.2f%%\n", methods[m].column, on_primes,
                    on_others, poll,
                    100 * poll / (cost.candidate_ns * static_cast<double>(s.check_every)));
    }
}

// The headline: the raw_value flag, the book's RawValue.
void print_headline(const settings& s, const fastest_sums& f, const poll_costs& cost) {
    const double poll_overhead = 100 * cost.poll_ns[m_raw - m_value] /
                                 (cost.candidate_ns * static_cast<double>(s.check_every));
    if (f.prime_ms[m_less_naive] > 0) {
        const double overhead = 100 * (f.prime_ms[m_raw] / f.prime_ms[m_less_naive] - 1);
        std::printf(
            "flag overhead on primes: %.1f%% (target < 2%%) measured end to end, "
            "%.2f%% from the cost of a poll; raw_value, a relaxed load every %llu "
            "candidates%s\n",
            overhead, poll_overhead, static_cast<unsigned long long>(s.check_every),
            f.prime_ms[m_less_naive] < 100 ? "\n  (the primes here are too small for "
                                             "the end-to-end figure: see the default run)"
            : overhead < 2                 ? ""
                                           : "\n  (above target end to end: timing noise of the "
                                             "machine; the poll's own cost is the second figure)");
    } else {
        std::printf(
            "flag overhead on primes: no prime above 3 in the list, %.2f%% from the "
            "cost of a poll (target < 2%%)\n",
            poll_overhead);
    }
}

}  // namespace

std::vector<std::string> self_check(const std::vector<u64>& numbers, const results& r) {
    std::vector<std::string> problems;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        const u64 n = numbers[i];
        const answer& ref = r.answers[i][m_serial];
        if (auto it = book_is_prime.find(n); it != book_is_prime.end() && it->second != ref.prime)
            problems.push_back(std::to_string(n) + ": serial says " + kind(ref.prime) +
                               ", the book says " + kind(it->second));
        for (std::size_t m = 0; m < method_count; ++m) check_method(n, m, r, i, problems);
    }
    return problems;
}

void print_tables(const settings& s, const results& r) {
    const auto [nw, aw] = column_widths(s.numbers, r);
    print_times(s, r, nw, aw);
    print_work(s, r, nw);
    std::printf("\nmethods:\n");
    for (const auto& mi : methods) std::printf("  %-10s  %s\n", mi.column, mi.description);
}

void print_flag_costs(const settings& s, const results& r, const poll_costs& cost) {
    const fastest_sums f = sum_fastest(s, r);
    std::printf(
        "\nthe flags against less_naive (fastest of %d: %.1f ms on primes, %.1f ms on "
        "the others),\nand the cost of one poll measured in a worker (a candidate "
        "costs %.2f ns,\nso a poll every %llu candidates adds poll / %.0f ns):\n",
        s.repeat, f.prime_ms[m_less_naive], f.composite_ms[m_less_naive], cost.candidate_ns,
        static_cast<unsigned long long>(s.check_every),
        cost.candidate_ns * static_cast<double>(s.check_every));
    print_flag_rows(s, f, cost);
    print_headline(s, f, cost);
}

int print_verdict(const settings& s, const results& r, const std::vector<std::string>& problems) {
    const std::size_t count = s.numbers.size();
    std::printf("\n%zu number%s x %zu methods x %d run%s in %.1f s\n", count, count > 1 ? "s" : "",
                static_cast<std::size_t>(method_count), s.repeat, s.repeat > 1 ? "s" : "",
                r.seconds);
    if (!problems.empty()) {
        std::printf("FAILED:\n");
        for (const auto& p : problems) std::printf("  %s\n", p.c_str());
        return 1;
    }
    std::printf(
        "OK: every method agrees with the serial search%s; on primes every method "
        "tested every candidate\n",
        std::any_of(s.numbers.begin(), s.numbers.end(),
                    [](u64 n) { return book_is_prime.count(n) != 0; })
            ? " and with the book"
            : "");
    return 0;
}

}  // namespace primes
