// The error hierarchy of shmpool: every exception the library throws derives from shmpool::error.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace shmpool {

/// Base of every exception thrown by shmpool. Its message names the object concerned (an array,
/// a lock file, a worker) and, where there is one, says what to do about it.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A named object (array, value, lock file) does not exist where it was looked for.
class not_found_error : public error {
public:
    using error::error;
};

/// create() found the name taken. Pass `create_options{.replace_existing = true}` to replace it,
/// or remove it first (`shmpool rm NAME`).
class already_exists_error : public error {
public:
    using error::error;
};

/// A name, shape or option is not acceptable: empty name, name with '/', name too long,
/// rank out of range, byte size that overflows.
class invalid_argument_error : public error {
public:
    using error::error;
};

/// An existing segment or .npy file holds another element type than the one asked for.
/// The message names both types.
class type_mismatch_error : public error {
public:
    using error::error;
};

/// A segment or file is not a valid array: not a .npy header, truncated, corrupted,
/// big-endian, Fortran order, or a dtype shmpool does not map.
class format_error : public error {
public:
    using error::error;
};

/// Not enough room in /dev/shm (or on the file system) for a new array. Raised at creation,
/// before anything is left behind; the message says how much was needed and how much is free.
class no_space_error : public error {
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
class system_error : public error {
public:
    system_error(std::error_code code, const std::string& what)
        : error(what + ": " + code.message()), code_(code) {}

    const std::error_code& code() const noexcept { return code_; }

private:
    std::error_code code_;
};

/// A task threw in a pool worker. The call that ran it stops handing out indices and rethrows
/// this in the parent; the pool stays usable.
class worker_error : public error {
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

/// A worker died during a call (killed by a signal, or exited). The pool replaced it and stays
/// usable; the indices it had in flight did not complete (unless the call had retries left).
class worker_died_error : public error {
public:
    worker_died_error(const std::string& what, int pid, int signal, int exit_code,
                      std::size_t first_lost, std::size_t last_lost)
        : error(what),
          pid_(pid),
          signal_(signal),
          exit_code_(exit_code),
          first_lost_(first_lost),
          last_lost_(last_lost) {}

    /// The PID of the worker that died.
    int pid() const noexcept { return pid_; }
    /// The signal that killed it (SIGKILL, SIGSEGV...), or 0 if it exited.
    int signal() const noexcept { return signal_; }
    /// Its exit code when it exited instead, or -1.
    int exit_code() const noexcept { return exit_code_; }
    /// The indices it had in flight: [first_lost(), last_lost()); empty if it was idle.
    std::size_t first_lost() const noexcept { return first_lost_; }
    std::size_t last_lost() const noexcept { return last_lost_; }

private:
    int pid_;
    int signal_;
    int exit_code_;
    std::size_t first_lost_;
    std::size_t last_lost_;
};

/// The previous holder of a robust lock (robust_mutex, shared_rwlock) died holding it. The call
/// that throws this has acquired the lock all the same: the caller holds it and must either
/// repair the data it protects, call mark_consistent() and unlock, or unlock without
/// mark_consistent(), which leaves the lock not recoverable (see not_recoverable_error).
class owner_died_error : public error {
public:
    using error::error;
};

/// A robust lock was released after its owner's death without mark_consistent(): the data it
/// protects is taken to be damaged, and every later attempt to lock it throws this. Only
/// constructing the lock (and the data) again makes it usable.
class not_recoverable_error : public error {
public:
    using error::error;
};

}  // namespace shmpool
