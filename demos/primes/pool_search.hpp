// demos/primes: the search in the process pool. The candidates are split into one contiguous
// range per pool index; the naive pool searches them all, the less naive one first tries the
// small ones serially. A flag (flags.hpp) lets the workers stop once one found a factor.
#pragma once

#include <cstddef>
#include <shmpool/process_pool.hpp>
#include <shmpool/value.hpp>

#include "search.hpp"

namespace primes {

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

}  // namespace primes
