// demos/primes: the methods, the numbers, the shared objects and the poll costs (methods.hpp).
#include "methods.hpp"

#include <chrono>
#include <exception>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <system_error>

namespace primes {

const std::map<u64, bool> book_is_prime{
    {112272535095295ULL, false},   {100109100129100369ULL, false}, {100109100129101027ULL, false},
    {100109100129100151ULL, true}, {100109100129162907ULL, true},
};

const std::vector<u64> book_numbers{112272535095295ULL, 100109100129100369ULL,
                                    100109100129101027ULL, 100109100129100151ULL,
                                    100109100129162907ULL};

// Edge cases, a square whose factor is the last candidate (1000003^2, found in the pool) before
// two primes (a flag left raised would stop their search), and the book's smallest number.
const std::vector<u64> quick_numbers{
    1, 2, 9, 1000006000009ULL, 1000000007ULL, 999999999989ULL, 112272535095295ULL};

cleanup::~cleanup() {
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

shared_objects make_shared_objects(std::size_t workers, const std::string& tag, cleanup& made) {
    made.shm_names = {"shmpool_primes_factor_" + tag, "shmpool_primes_tested_" + tag};
    const range_results out{shmpool::raw_array<u64>::create(made.shm_names[0], workers),
                            shmpool::raw_array<u64>::create(made.shm_names[1], workers)};
    made.shm_names.push_back("shmpool_primes_value_" + tag);
    const value_flag vflag{shmpool::value<bool>::create(made.shm_names.back(), false)};
    made.shm_names.push_back("shmpool_primes_raw_" + tag);
    const raw_flag rflag{shmpool::raw_value<std::uint8_t>::create(made.shm_names.back(), 0)};
    made.file =
        (std::filesystem::temp_directory_path() / ("shmpool_primes_flag_" + tag + ".npy")).string();
    const file_flag fflag{
        shmpool::shared_array<std::uint8_t>::create(shmpool::file_path{made.file}, {1})};
    made.shm_names.push_back("shmpool_primes_event_" + tag);
    const event_flag eflag{shmpool::shared_array<std::uint8_t>::create(made.shm_names.back(),
                                                                       {sizeof(shmpool::event)})};
    static_assert(alignof(shmpool::event) <= 64);  // array data is 64-byte aligned
    new (eflag.a.data()) shmpool::event;
    return {out, vflag, rflag, fflag, eflag};
}

answer run_method(std::size_t m, u64 n, shmpool::process_pool& pool, const shared_objects& objs,
                  const settings& s) {
    const std::size_t r = s.workers;
    const u64 e = s.check_every, p = s.precheck;
    const range_results& out = objs.out;
    switch (m) {
        case m_serial:
            return serial(n);
        case m_naive:
            return naive_pool(pool, out, n, r, 0, no_flag{});
        case m_less_naive:
            return less_naive_pool(pool, out, n, r, p, 0, no_flag{});
        case m_value:
            return less_naive_pool(pool, out, n, r, p, e, objs.vflag);
        case m_raw:
            return less_naive_pool(pool, out, n, r, p, e, objs.rflag);
        case m_file:
            return less_naive_pool(pool, out, n, r, p, e, objs.fflag);
        case m_event:
            return less_naive_pool(pool, out, n, r, p, e, objs.eflag);
        default:
            return less_naive_pool(pool, out, n, r, p, e, cancel_flag{});
    }
}

namespace {

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

}  // namespace

poll_costs measure_poll_costs(shmpool::process_pool& pool, const shared_objects& objs) {
    objs.vflag.reset(), objs.rflag.reset(), objs.fflag.reset(), objs.eflag.reset();
    const value_flag vflag = objs.vflag;
    const raw_flag rflag = objs.rflag;
    const file_flag fflag = objs.fflag;
    const event_flag eflag = objs.eflag;
    return pool.map(0, 1, [vflag, rflag, fflag, eflag](std::size_t) {
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
        c.poll_ns = {ns_per_poll(vflag), ns_per_poll(rflag), ns_per_poll(fflag), ns_per_poll(eflag),
                     ns_per_poll(cancel_flag{})};
        return c;
    })[0];
}

}  // namespace primes
