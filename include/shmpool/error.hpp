// The error hierarchy of shmpool: every exception the library throws derives from shmpool::error.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>

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

}  // namespace shmpool
