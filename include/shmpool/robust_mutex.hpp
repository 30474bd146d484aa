// shmpool::robust_mutex: a mutex in shared memory that survives the death of its holder, and
// shmpool::robust_lock, its guard.
//
// @code
// auto mem = shmpool::shared_array<std::uint8_t>::create("m", {sizeof(shmpool::robust_mutex)});
// auto* m = new (mem.data()) shmpool::robust_mutex;     // constructed once, in shared memory
// shmpool::robust_lock held(*m);
// if (held.owner_died()) { repair(); held.mark_consistent(); }
// @endcode
#pragma once

#include <pthread.h>

#include <chrono>
#include <mutex>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/process_shareable.hpp"
#include "shmpool/detail/timed_wait.hpp"
#include "shmpool/error.hpp"

namespace shmpool {

/// A mutex for processes sharing memory: a pthread mutex made process-shared and robust
/// (PTHREAD_PROCESS_SHARED, PTHREAD_MUTEX_ROBUST, error-checking).
///
/// It lives in the shared memory itself: the process that sets the memory up constructs it
/// there once (`new (where) robust_mutex`), and every process mapping that memory, at whatever
/// address, uses it; it holds no pointer. It is neither copyable nor movable.
///
/// Meets Lockable and TimedLockable, so std::lock_guard, std::unique_lock and std::scoped_lock
/// work with it; prefer robust_lock, which also handles the owner's death.
///
/// Owner death: when a thread dies holding the mutex (its process exits, is killed, or the
/// thread ends), the next lock(), try_lock(), try_lock_for() or try_lock_until() acquires it
/// AND throws owner_died_error, so the death cannot go unnoticed. The caller then holds the
/// mutex and must either repair the data it protects, call mark_consistent() and unlock(), or
/// unlock() without mark_consistent(): the mutex is then not recoverable, and every later lock
/// attempt, in any process, throws not_recoverable_error. (These are the pthread semantics.)
/// A std::lock_guard whose constructor throws owner_died_error does not unlock: catch it and
/// unlock yourself, or use robust_lock.
///
/// The owner is a thread: the thread that locked must unlock. A thread that locks it twice gets
/// system_error (EDEADLK) instead of a deadlock.
///
/// Fork: safe. The mutex must live in memory shared with the child (MAP_SHARED, a shmpool
/// segment); a child does not hold the mutex its parent held when it forked.
/// Destruction: destroy it once, when no process uses it any more (or never: it holds no
/// resource outside the memory it lives in).
class SHMPOOL_API robust_mutex : public detail::timed_lockable<robust_mutex> {
public:
    /// Initialises an unlocked mutex. Throws system_error if pthread refuses the attributes.
    robust_mutex();
    ~robust_mutex();
    robust_mutex(const robust_mutex&) = delete;
    robust_mutex& operator=(const robust_mutex&) = delete;

    /// Blocks until this thread holds the mutex.
    /// Throws owner_died_error (the mutex IS held: see the class comment), not_recoverable_error,
    /// system_error (EDEADLK: this thread already holds it).
    void lock();

    /// Takes the mutex if it is free; never waits. Returns false if another thread holds it.
    /// Throws as lock().
    bool try_lock();

    // try_lock_for(timeout) and try_lock_until(deadline) (from detail::timed_lockable) wait
    // that long at the latest; they return false on timeout and throw as lock().

    /// Releases the mutex held by this thread. Never throws; releasing a mutex this thread
    /// does not hold is a programming error and does nothing. After owner death without
    /// mark_consistent(), this makes the mutex not recoverable.
    void unlock() noexcept;

    /// After owner_died_error, declares the protected data repaired: the mutex works normally
    /// again once unlocked. Throws system_error (EINVAL) when the mutex is not in that state.
    void mark_consistent();

    /// The pthread mutex, for pthread_cond_t and the like.
    pthread_mutex_t* native_handle() noexcept { return &mutex_; }

private:
    friend class detail::timed_lockable<robust_mutex>;
    bool lock_until(detail::steady_time deadline);

    pthread_mutex_t mutex_;
};

/// A movable guard for a robust_mutex, like std::unique_lock, that records the owner's death
/// instead of throwing it:
///
///     shmpool::robust_lock held(m);
///     if (held.owner_died()) {
///         repair();
///         held.mark_consistent();
///     }
///
/// A guard that acquired the mutex after its owner died and is destroyed (or unlocked) without
/// mark_consistent() leaves the mutex not recoverable: every later lock throws
/// not_recoverable_error, so the death cannot be missed silently.
///
/// The guard itself lives in one thread's scope, not in shared memory.
class SHMPOOL_API robust_lock : public detail::timed_lockable<robust_lock> {
public:
    robust_lock() noexcept = default;
    /// Locks `m`. Throws not_recoverable_error, system_error; never owner_died_error.
    explicit robust_lock(robust_mutex& m) : mutex_(&m) { lock(); }
    /// Tries once to lock `m` (see owns_lock()).
    robust_lock(robust_mutex& m, std::try_to_lock_t) : mutex_(&m) { try_lock(); }
    /// Does not lock `m`.
    robust_lock(robust_mutex& m, std::defer_lock_t) noexcept : mutex_(&m) {}
    /// Takes over `m`, already locked by this thread.
    robust_lock(robust_mutex& m, std::adopt_lock_t) noexcept : mutex_(&m), owns_(true) {}
    /// Waits at most `timeout` for `m` (see owns_lock()).
    template <class Rep, class Period>
    robust_lock(robust_mutex& m, const std::chrono::duration<Rep, Period>& timeout) : mutex_(&m) {
        try_lock_for(timeout);
    }

    robust_lock(robust_lock&& o) noexcept;
    robust_lock& operator=(robust_lock&& o) noexcept;
    robust_lock(const robust_lock&) = delete;
    robust_lock& operator=(const robust_lock&) = delete;
    /// Unlocks if held; never throws.
    ~robust_lock();

    /// Locks the mutex. Throws not_recoverable_error, system_error (EDEADLK, or no mutex).
    void lock();
    /// Tries once; returns whether the guard now holds the mutex. Throws as lock().
    bool try_lock();
    // try_lock_for(timeout), try_lock_until(deadline) (detail::timed_lockable): wait that long
    // at the latest; return whether the guard now holds the mutex; throw as lock().
    /// Unlocks; see the class comment about owner death. Throws system_error if not held.
    void unlock();

    /// True when the last acquisition found that the previous owner had died, until
    /// mark_consistent() is called.
    bool owner_died() const noexcept { return owner_died_; }
    /// Declares the data repaired after owner_died() (see robust_mutex::mark_consistent()).
    void mark_consistent();

    bool owns_lock() const noexcept { return owns_; }
    explicit operator bool() const noexcept { return owns_; }
    robust_mutex* mutex() const noexcept { return mutex_; }
    /// Forgets the mutex without unlocking it; returns it.
    robust_mutex* release() noexcept;

private:
    friend class detail::timed_lockable<robust_lock>;
    bool lock_until(detail::steady_time deadline);
    template <class Acquire>
    bool acquire(Acquire&& how);

    robust_mutex* mutex_ = nullptr;
    bool owns_ = false;
    bool owner_died_ = false;
};

/// A robust_mutex may live in a shared_object.
template <>
struct detail::process_shareable<robust_mutex> : std::true_type {};

}  // namespace shmpool
