// demos/primes: what the timed runs found, checked and printed: the self-check, the tables of
// times and of candidates tested, the flags' cost, and the verdict.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "methods.hpp"

namespace primes {

/// Per number and method: each run's time in ms, the first run's answer, and whether every
/// later run gave the same answer.
struct results {
    std::vector<std::array<std::vector<double>, method_count>> ms;
    std::vector<std::array<answer, method_count>> answers;
    std::vector<std::array<bool, method_count>> agree;
    double seconds = 0;  // all the runs
};

/// Every answer against the serial one (and the book's), every factor a factor, and on a
/// prime every candidate tested. Returns the problems found.
std::vector<std::string> self_check(const std::vector<u64>& numbers, const results& r);

/// The times (median of the runs), the candidates tested, and what each method is.
void print_tables(const settings& s, const results& r);

/// The flags' cost on primes and their gain on the others, against less_naive, and the cost of
/// one poll.
void print_flag_costs(const settings& s, const results& r, const poll_costs& cost);

/// The last lines: the problems, or OK. Returns the exit code.
int print_verdict(const settings& s, const results& r, const std::vector<std::string>& problems);

}  // namespace primes
