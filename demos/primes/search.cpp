// demos/primes: the search's helpers and the serial method (search.hpp).
#include "search.hpp"

#include <cmath>

namespace primes {

u64 isqrt(u64 n) {
    auto r = static_cast<u64>(std::sqrt(static_cast<long double>(n)));
    while (r > 0 && r > n / r) --r;
    while (r + 1 <= n / (r + 1)) ++r;
    return r;
}

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

}  // namespace primes
