// shmpool::barrier: a reusable barrier in shared memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/process_shareable.hpp"

namespace shmpool {

/// A barrier for a fixed number of processes (or threads) sharing memory: each calls
/// arrive_and_wait(), and all return once `parties` of them have arrived. It then serves the
/// next round (generation) at once, for ever.
///
/// It lives in the shared memory itself: the process that sets the memory up constructs it
/// there once (`new (where) barrier(n)`), and every process mapping that memory, at whatever
/// address, uses it; it holds no pointer. It is neither copyable nor movable. What a party
/// wrote before arriving is visible to every party after the barrier.
///
/// Timeouts: arrive_and_wait_for() returns false when the round did not complete in time, and
/// then withdraws its arrival: the round still waits for `parties` arrivals. (If the round
/// completes just as it times out, it returns true: it took part.)
/// Death: a party that dies after arriving counts for that round; one that dies before leaves
/// the others waiting (use the timed variant to find out).
///
/// Fork: safe, if it lives in memory shared with the child.
class SHMPOOL_API barrier {
public:
    /// The largest number of parties.
    static constexpr std::uint32_t max_parties = 0xffff;

    /// A barrier for `parties` parties. Throws invalid_argument_error when `parties` is 0 or
    /// more than max_parties.
    explicit barrier(std::uint32_t parties);
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;

    /// Arrives, and waits (without a time limit) for the others of this round.
    void arrive_and_wait() noexcept { arrive_and_wait_deadline(detail::no_deadline); }
    /// Arrives, and waits at most `timeout` (steady clock) for the others. Returns false on
    /// timeout, with the arrival withdrawn.
    template <class Rep, class Period>
    bool arrive_and_wait_for(const std::chrono::duration<Rep, Period>& timeout) {
        return arrive_and_wait_deadline(detail::deadline_after(timeout));
    }
    /// Arrives, and waits until `deadline` at the latest; as arrive_and_wait_for().
    template <class Clock, class Duration>
    bool arrive_and_wait_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        return arrive_and_wait_deadline(detail::to_deadline(deadline));
    }

    /// The number of parties given to the constructor.
    std::uint32_t parties() const noexcept { return parties_; }

private:
    bool arrive_and_wait_deadline(detail::steady_time deadline) noexcept;
    bool wait_for_round(std::uint32_t round, std::uint32_t seen,
                        detail::steady_time deadline) noexcept;

    std::atomic<std::uint32_t> state_{0};  // futex: round (high 16 bits) | arrivals (low 16)
    std::uint32_t parties_;
};

/// A barrier may live in a shared_object.
template <>
struct detail::process_shareable<barrier> : std::true_type {};

}  // namespace shmpool
