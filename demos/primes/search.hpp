// demos/primes: the search itself. Trial division of n by the odd candidates up to sqrt(n),
// over any range of them, polling a "stop" predicate every so many candidates; and the serial
// method, which the others are checked against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace primes {

using u64 = std::uint64_t;

/// floor(sqrt(n)), exact for every 64-bit n.
u64 isqrt(u64 n);

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
std::optional<answer> trivial(u64 n);

candidates candidates_of(u64 n);

/// Candidates with d <= limit come first: how many there are.
u64 candidates_up_to(const candidates& c, u64 limit);

/// One process, every odd candidate in turn.
answer serial(u64 n);

}  // namespace primes
