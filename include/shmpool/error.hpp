// The error hierarchy of shmpool: every exception the library throws derives from shmpool::error.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "shmpool/detail/export.hpp"

namespace shmpool {

/// Base of every exception thrown by shmpool. Its message names the object concerned (an array,
/// a lock file, a worker) and, where there is one, says what to do about it.
class SHMPOOL_API error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A named object (array, value, lock file) does not exist where it was looked for.
class SHMPOOL_API not_found_error : public error {
public:
    using error::error;
};

/// create() found the name taken. Pass `create_options{.replace_existing = true}` to replace it,
/// or remove it first (`shmpool rm NAME`).
class SHMPOOL_API already_exists_error : public error {
public:
    using error::error;
};

/// A name, shape or option is not acceptable: empty name, name with '/', name too long,
/// rank out of range, byte size that overflows.
class SHMPOOL_API invalid_argument_error : public error {
public:
    using error::error;
};

/// An existing segment or .npy file holds another element type than the one asked for.
/// The message names both types.
class SHMPOOL_API type_mismatch_error : public error {
public:
    using error::error;
};

/// A segment or file is not a valid array: not a .npy header, truncated, corrupted,
/// big-endian, Fortran order, or a dtype shmpool does not map.
class SHMPOOL_API format_error : public error {
public:
    using error::error;
};

/// Not enough room in /dev/shm (or on the file system) for a new array. Raised at creation,
/// before anything is left behind; the message says how much was needed and how much is free.
class SHMPOOL_API no_space_error : public error {
public:
    no_space_error(const std::string& what, std::size_t needed_bytes, std::size_t free_bytes)
        : error(what), needed_(needed_bytes), free_(free_bytes) {}

    /// Bytes the new array needed, header included.
    std::size_t needed_bytes() const noexcept { return needed_; }
    /// Bytes that were free on the file system when creation was attempted.
    std::size_t free_bytes() const noexcept { return free_; }

private:
    std::size_t needed_;
    std::size_t free_;
};

/// An operating-system call failed. code() is the errno as a std::error_code; the message says
/// which call failed on which object ("cannot open /dev/shm/grid: Permission denied").
class SHMPOOL_API system_error : public error {
public:
    system_error(std::error_code code, const std::string& what)
        : error(what + ": " + code.message()), code_(code) {}

    const std::error_code& code() const noexcept { return code_; }

private:
    std::error_code code_;
};

/// A task threw in a pool worker. The call that ran it stops handing out indices and rethrows
/// this in the parent; the pool stays usable.
class SHMPOOL_API worker_error : public error {
public:
    worker_error(const std::string& what, std::size_t index, int pid, std::string exception_type,
                 std::string exception_what)
        : error(what),
          index_(index),
          pid_(pid),
          type_(std::move(exception_type)),
          inner_what_(std::move(exception_what)) {}

    /// The index whose task threw.
    std::size_t index() const noexcept { return index_; }
    /// The PID of the worker that ran it.
    int pid() const noexcept { return pid_; }
    /// The exception's type, demangled ("std::runtime_error").
    const std::string& exception_type() const noexcept { return type_; }
    /// The exception's what().
    const std::string& exception_what() const noexcept { return inner_what_; }

private:
    std::size_t index_;
    int pid_;
    std::string type_;
    std::string inner_what_;
};

/// A half-open range of task indices, [begin, end).
struct index_range {
    std::size_t begin = 0;
    std::size_t end = 0;

    std::size_t size() const noexcept { return end > begin ? end - begin : 0; }
    bool contains(std::size_t i) const noexcept { return i >= begin && i < end; }
    friend bool operator==(const index_range&, const index_range&) = default;
};

/// How one pool worker ended.
struct worker_death {
    int pid = 0;         ///< its PID
    int signal = 0;      ///< the signal that killed it (SIGKILL, SIGSEGV...), or 0 if it exited
    int exit_code = -1;  ///< its exit code when it exited instead, or -1
};

/// Workers died during a call and some of its indices may not have completed (no retries, or
/// none left). The pool replaced the workers and stays usable.
///
/// The error is exact: not_completed() lists every index whose task may not have run to the
/// end; every other index of the call ran to the end (exactly once without retries). Among the
/// indices not completed, only those in interrupted() may have run in part: a worker was running
/// them when it died. The others never started.
class SHMPOOL_API worker_died_error : public error {
public:
    worker_died_error(const std::string& what, std::vector<worker_death> deaths,
                      std::vector<index_range> not_completed, std::vector<std::size_t> interrupted)
        : error(what),
          deaths_(std::move(deaths)),
          not_completed_(std::move(not_completed)),
          interrupted_(std::move(interrupted)) {}

    /// The workers that died during the call, in the order they were noticed.
    const std::vector<worker_death>& deaths() const noexcept { return deaths_; }
    /// The PID of the first worker that died.
    int pid() const noexcept { return deaths_.empty() ? 0 : deaths_.front().pid; }
    /// The signal that killed the first worker (SIGKILL, SIGSEGV...), or 0 if it exited.
    int signal() const noexcept { return deaths_.empty() ? 0 : deaths_.front().signal; }
    /// The first worker's exit code when it exited instead, or -1.
    int exit_code() const noexcept { return deaths_.empty() ? -1 : deaths_.front().exit_code; }

    /// The indices whose task may not have completed: sorted, disjoint, merged ranges.
    const std::vector<index_range>& not_completed() const noexcept { return not_completed_; }
    /// How many indices not_completed() holds.
    std::size_t not_completed_count() const noexcept {
        std::size_t n = 0;
        for (const index_range& r : not_completed_) n += r.size();
        return n;
    }
    /// The indices workers were running when they died (ascending): their task may have run in
    /// part, and, if the call retried them, run again.
    const std::vector<std::size_t>& interrupted() const noexcept { return interrupted_; }

    /// The first range of not_completed(): [first_lost(), last_lost()); empty if there is none.
    std::size_t first_lost() const noexcept {
        return not_completed_.empty() ? 0 : not_completed_.front().begin;
    }
    std::size_t last_lost() const noexcept {
        return not_completed_.empty() ? 0 : not_completed_.front().end;
    }

private:
    std::vector<worker_death> deaths_;
    std::vector<index_range> not_completed_;
    std::vector<std::size_t> interrupted_;
};

/// The previous holder of a robust lock (robust_mutex, shared_rwlock) died holding it. The call
/// that throws this has acquired the lock all the same: the caller holds it and must either
/// repair the data it protects, call mark_consistent() and unlock, or unlock without
/// mark_consistent(), which leaves the lock not recoverable (see not_recoverable_error).
class SHMPOOL_API owner_died_error : public error {
public:
    using error::error;
};

/// A robust lock was released after its owner's death without mark_consistent(): the data it
/// protects is taken to be damaged, and every later attempt to lock it throws this. Only
/// constructing the lock (and the data) again makes it usable.
class SHMPOOL_API not_recoverable_error : public error {
public:
    using error::error;
};

/// process_pool::submit() found the pool's queue of submitted calls full, and the pool was made
/// with pool_options{.queue_full = when_queue_full::throw_error}: wait for (get()) an earlier
/// call, or raise pool_options::max_queued.
class SHMPOOL_API queue_full_error : public error {
public:
    using error::error;
};

}  // namespace shmpool
