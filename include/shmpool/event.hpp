// shmpool::event: a flag in shared memory that processes can wait for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/process_shareable.hpp"

namespace shmpool {

/// A flag for processes sharing memory, like Python's multiprocessing.Event: set() raises it
/// and wakes every waiter, clear() lowers it, wait() blocks until it is raised. Typical use: "a
/// factor was found, stop": workers poll is_set() in their loops, which costs one atomic load
/// of a shared cache line, and the coordinator waits for it.
///
/// It lives in the shared memory itself: the process that sets the memory up constructs it
/// there once (`new (where) event`), and every process mapping that memory, at whatever
/// address, uses it; it holds no pointer. It is neither copyable nor movable. What a process
/// wrote before set() is visible to one that then sees is_set() true or returns from wait().
///
/// No member throws. A waiter that dies costs the next set() one needless wake-up, nothing more.
/// Fork: safe, if it lives in memory shared with the child.
class SHMPOOL_API event {
public:
    /// An event, lowered unless `initially_set`.
    explicit event(bool initially_set = false) noexcept : word_(initially_set ? set_bit : 0) {}
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    /// Raises the flag and wakes every waiter.
    void set() noexcept;
    /// Lowers the flag; waiters keep waiting.
    void clear() noexcept;
    /// Whether the flag is raised: a single acquire load, cheap enough to poll in a hot loop.
    bool is_set() const noexcept { return word_.load(std::memory_order_acquire) & set_bit; }

    /// Waits (without a time limit) until the flag is raised; returns at once if it is.
    void wait() noexcept { wait_deadline(detail::no_deadline); }
    /// Waits at most `timeout` (steady clock); returns whether the flag is raised.
    template <class Rep, class Period>
    bool wait_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
        return wait_deadline(detail::deadline_after(timeout));
    }
    /// Waits until `deadline` at the latest; returns whether the flag is raised.
    template <class Clock, class Duration>
    bool wait_until(const std::chrono::time_point<Clock, Duration>& deadline) noexcept {
        return wait_deadline(detail::to_deadline(deadline));
    }

private:
    static constexpr std::uint32_t set_bit = 1;
    static constexpr std::uint32_t waiting_bit = 2;  // someone may sleep: set() must wake

    bool wait_deadline(detail::steady_time deadline) noexcept;

    std::atomic<std::uint32_t> word_;  // futex
};

/// A event may live in a shared_object.
template <>
struct detail::process_shareable<event> : std::true_type {};

}  // namespace shmpool
