// Deadlines for the timed calls of shmpool's synchronisation primitives (robust_mutex,
// shared_rwlock, semaphore, barrier, event): every duration or time point becomes a
// std::chrono::steady_clock deadline (CLOCK_MONOTONIC), so a change of the wall clock never
// shortens or stretches a wait.
#pragma once

#include <chrono>
#include <type_traits>

namespace shmpool::detail {

using steady_time = std::chrono::steady_clock::time_point;

/// The deadline of a call without a time limit.
inline constexpr steady_time no_deadline = steady_time::max();

/// now + `timeout`, saturated: a zero or negative timeout gives now (try once), one longer than
/// a century gives no_deadline.
template <class Rep, class Period>
steady_time deadline_after(const std::chrono::duration<Rep, Period>& timeout) {
    using std::chrono::steady_clock;
    const steady_time now = steady_clock::now();
    if (timeout <= timeout.zero()) return now;
    constexpr std::chrono::duration<double> century(100.0 * 365 * 24 * 3600);
    if (std::chrono::duration<double>(timeout) >= century) return no_deadline;
    return now + std::chrono::ceil<steady_clock::duration>(timeout);
}

/// `when` as a steady_clock deadline. A time point of another clock (system_clock...) is
/// converted once, as the time left until it.
template <class Clock, class Duration>
steady_time to_deadline(const std::chrono::time_point<Clock, Duration>& when) {
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock> &&
                  std::is_same_v<Duration, std::chrono::steady_clock::duration>) {
        return when;
    } else {
        return deadline_after(when - Clock::now());
    }
}

}  // namespace shmpool::detail
