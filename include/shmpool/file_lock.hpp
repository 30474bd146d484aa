// shmpool::file_lock: an exclusive lock between processes (and threads) on a lock file's path.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "shmpool/detail/export.hpp"
#include "shmpool/error.hpp"

namespace shmpool {

/// An exclusive lock on a path, shared by every process on the machine that locks the same
/// path: `file_lock lock("/tmp/counter.lock"); std::lock_guard g(lock);`. Meets the standard's
/// TimedLockable requirements, so std::lock_guard, std::unique_lock and std::scoped_lock work.
///
/// It is a flock(2) lock on the whole lock file, the lock Python's fcntl.flock and its filelock
/// package take (so Python and C++ processes exclude each other), owned by this object's open
/// file rather than by the process: two file_lock objects
/// on one path exclude each other even in one process or in two threads. The kernel releases it
/// when the last descriptor of that open file is closed, so a holder that dies, even by kill -9,
/// never leaves the others waiting. But a child forked while this object exists shares that
/// open file: if the holder dies holding the lock, the lock stays held until such children exit
/// or exec() (the descriptor is close-on-exec). unlock() and the destructor release it at once.
///
/// The lock file is created empty with mode 0600 if missing (an existing file keeps its mode and
/// contents) and is never removed: removing it on unlock would let a process lock the removed
/// file while another locks a new one at the same path. Delete it only when nobody uses it.
/// A symbolic link at the path is refused rather than followed.
///
/// Fork: the object may not be used in a forked child (lock(), try_lock*() and unlock() throw
/// shmpool::error there; owns_lock() is false): the child's copy shares the parent's lock.
/// Construct a new file_lock in the child. Destroying the copy in the child closes its
/// descriptor without releasing the parent's lock.
/// Threads: give each thread its own file_lock; one object is not to be used by two threads at
/// once.
class SHMPOOL_API file_lock {
public:
    /// Opens the lock file at `path`, creating it (mode 0600) if it does not exist. Does not lock.
    /// Throws not_found_error (the directory does not exist), invalid_argument_error (empty path,
    /// a directory or another non-regular file), shmpool::error (a symbolic link), system_error
    /// (no permission to create or open it, read-only file system). Messages name the path.
    explicit file_lock(std::string path);

    /// Releases the lock if this object holds it, then closes the lock file. Never throws.
    ~file_lock();

    /// Moves the open lock file and its lock; `other` is left empty (using it throws).
    file_lock(file_lock&& other) noexcept;
    /// Releases the lock this object holds, if any, then takes over `other`'s.
    file_lock& operator=(file_lock&& other) noexcept;
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;

    /// Blocks until the lock is acquired (signals do not interrupt the wait).
    /// Throws shmpool::error when this object already holds it ("already locked by this
    /// file_lock"), is empty, or was inherited by a forked child; system_error on failure.
    void lock();

    /// Acquires the lock if no one holds it; never blocks. Returns whether it did.
    /// Throws as lock().
    bool try_lock();

    /// Tries to acquire the lock until `timeout` has elapsed; returns whether it did. The lock is
    /// tried at once, then at intervals growing from 50 us to 5 ms: a release is noticed within
    /// about 5 ms, and waiters do not queue. Throws as lock().
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
        if (timeout <= timeout.zero()) return try_lock();
        using seconds = std::chrono::duration<double>;  // compares any duration without overflow
        if (seconds(timeout) >= seconds(max_wait)) return try_lock_within(max_wait);
        return try_lock_within(std::chrono::ceil<wait_duration>(timeout));
    }

    /// Tries to acquire the lock until `deadline`; returns whether it did. A deadline on another
    /// clock than steady_clock is converted to a wait once, when the call starts. Throws as
    /// lock().
    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        const auto now = Clock::now();
        if (deadline <= now) return try_lock();
        return try_lock_for(deadline - now);
    }

    /// Releases the lock. Throws shmpool::error when this object does not hold it or was
    /// inherited by a forked child; system_error on failure.
    void unlock();

    /// Whether this object holds the lock (false in a forked child and when empty).
    bool owns_lock() const noexcept;

    /// The lock file's path, as given (empty after a move).
    const std::string& path() const noexcept { return path_; }

private:
    using wait_duration = std::chrono::nanoseconds;
    static constexpr wait_duration max_wait = std::chrono::hours(24 * 365 * 100);

    bool try_lock_within(wait_duration wait);
    void check_usable(const char* operation) const;
    void release() noexcept;

    std::string path_;
    int fd_ = -1;
    pid_t pid_ = 0;  // the process that opened the lock file
    bool owned_ = false;
};

}  // namespace shmpool
