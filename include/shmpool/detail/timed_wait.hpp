// The timed forms of the locks, written once: a lock that can wait until a steady-clock
// deadline gets try_lock_for (any duration) and try_lock_until (a time point of any clock,
// converted once, so a change of the wall clock does not move it) by deriving from these.
#pragma once

#include <chrono>

#include "shmpool/detail/deadline.hpp"

namespace shmpool::detail {

/// try_lock_for() and try_lock_until() of a lock whose `bool lock_until(steady_time)` waits
/// until a deadline (no_deadline: for ever) and returns whether it got the lock. Derived
/// befriends this class when lock_until is private.
template <class Derived>
class timed_lockable {
public:
    /// Waits at most `timeout` (measured on the steady clock); returns whether it got the lock.
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
        return static_cast<Derived&>(*this).lock_until(deadline_after(timeout));
    }
    /// Waits until `deadline` at the latest; returns whether it got the lock.
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        return static_cast<Derived&>(*this).lock_until(to_deadline(deadline));
    }
};

/// try_lock_shared_for() and try_lock_shared_until() over `bool lock_shared_until(steady_time)`.
template <class Derived>
class timed_shared_lockable {
public:
    /// Waits at most `timeout` for a shared hold; returns whether it got one.
    template <class Rep, class Period>
    bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& timeout) {
        return static_cast<Derived&>(*this).lock_shared_until(deadline_after(timeout));
    }
    /// Waits until `deadline` at the latest for a shared hold; returns whether it got one.
    template <class Clock, class Duration>
    bool try_lock_shared_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        return static_cast<Derived&>(*this).lock_shared_until(to_deadline(deadline));
    }
};

}  // namespace shmpool::detail
