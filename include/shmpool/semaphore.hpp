// shmpool::semaphore: a counting semaphore in shared memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/process_shareable.hpp"

namespace shmpool {

/// A counting semaphore for processes sharing memory, on a futex word: acquire() takes one
/// from the count, waiting while it is 0; release(n) adds n and wakes the waiters.
///
/// It lives in the shared memory itself: the process that sets the memory up constructs it
/// there once (`new (where) semaphore(n)`), and every process mapping that memory, at whatever
/// address, uses it; it holds no pointer. It is neither copyable nor movable.
///
/// It has no owner, like Python's multiprocessing.Semaphore: any process may release what
/// another acquired, and a process that dies after acquire() does NOT give its unit back (the
/// count stays lower for good). Where that matters, guard the resource with robust_mutex, or
/// release from a process that watches the others.
///
/// Fork: safe, if it lives in memory shared with the child. Threads: every member may be
/// called concurrently.
class SHMPOOL_API semaphore {
public:
    /// The largest count.
    static constexpr std::uint32_t max() noexcept {
        return std::numeric_limits<std::uint32_t>::max();
    }

    /// A semaphore whose count starts at `initial`.
    explicit semaphore(std::uint32_t initial) noexcept : count_(initial) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    /// Takes one from the count, waiting (without a time limit) while it is 0.
    void acquire() noexcept { acquire_until(detail::no_deadline); }
    /// Takes one if the count is not 0; never waits. Returns whether it took one.
    bool try_acquire() noexcept;
    /// Waits at most `timeout` (steady clock) for the count to be > 0. Returns false on
    /// timeout, having taken nothing.
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
        return acquire_until(detail::deadline_after(timeout));
    }
    /// Waits until `deadline` at the latest; returns false on timeout.
    template <class Clock, class Duration>
    bool try_acquire_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        return acquire_until(detail::to_deadline(deadline));
    }

    /// Adds `n` to the count and wakes the waiters. Throws invalid_argument_error (adding
    /// nothing) when the count would exceed max().
    void release(std::uint32_t n = 1);

    /// The count at this instant (others may change it at once): for tests and monitoring.
    std::uint32_t value() const noexcept { return count_.load(std::memory_order_relaxed); }

private:
    bool acquire_until(detail::steady_time deadline) noexcept;

    std::atomic<std::uint32_t> count_;       // futex: waiters sleep while it is 0
    std::atomic<std::uint32_t> waiters_{0};  // processes asleep (or about to be) on count_
};

/// A semaphore may live in a shared_object.
template <>
struct detail::process_shareable<semaphore> : std::true_type {};

}  // namespace shmpool
