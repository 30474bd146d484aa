// The arrays on this machine: list them, describe one, remove those whose creator died.
// What the `shmpool` command-line tool shows.
//
// @code
// for (const shmpool::array_info& a : shmpool::list_arrays())
//     std::printf("%s %s %s\n", a.name.c_str(), a.dtype.c_str(), a.creator_alive ? "" :
//     "(orphan)");
// shmpool::collect_garbage();   // what `shmpool gc` does
// @endcode
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// What a segment's header and trailer say about an array, a shared object or a value.
struct array_info {
    std::string name;   // the name in /dev/shm, or the file path
    std::string path;   // the file: /dev/shm/NAME or the path
    std::string dtype;  // "float64", "int32", "bool"... (objects and values: "uint8", their bytes)
    /// "array", "object" (shared_object), "value", "raw_value", "value_array", "raw_array".
    std::string kind = "array";
    /// Arrays: the dtype. Objects and values: the C++ type they were created for ("int64",
    /// "shmpool::robust_mutex", "app::config").
    std::string type;
    /// A value or raw_value of a number type: its value now, read without its lock (a
    /// snapshot); otherwise empty.
    std::string value;
    std::vector<std::size_t> shape;
    std::size_t data_bytes = 0;        // bytes of elements
    std::size_t file_bytes = 0;        // bytes of the whole segment, header and trailer included
    bool made_by_shmpool = false;      // false for a .npy file numpy wrote: no creator recorded
    pid_t creator_pid = 0;             // 0 when unknown
    bool creator_alive = false;        // the creator still runs (a reused PID does not count)
    /// The creator ran on another host, or before this machine's last boot (its boot ID
    /// differs: a directory several hosts share, a file kept across a reboot). Its PID cannot
    /// be checked here, so creator_alive is true and `gc` leaves the array alone.
    bool creator_elsewhere = false;
    bool persistent = false;           // kept after its creator exits; `gc` leaves it alone
    std::int64_t created_unix_ns = 0;  // 0 when unknown
};

/// Every array in /dev/shm this user can read, sorted by name. Files that are not arrays
/// (other programs' segments) are skipped. Throws system_error if /dev/shm cannot be listed.
SHMPOOL_API std::vector<array_info> list_arrays();

/// The array NAME in /dev/shm. Throws not_found_error, format_error (not an array), system_error.
SHMPOOL_API array_info describe_array(std::string_view name);
/// The array in the file `file.path`.
SHMPOOL_API array_info describe_array(const file_path& file);

/// Removes the array NAME whatever its element type (what shared_array<T>::remove does).
/// Throws not_found_error, format_error (not an array: left alone), system_error.
SHMPOOL_API void remove_array(std::string_view name);
/// Removes the file-backed array at `file.path`.
SHMPOOL_API void remove_array(const file_path& file);

/// Removes the non-persistent arrays of /dev/shm whose creator is no longer running, and the
/// staging files of creations that were killed half-way. Returns the names removed (all that
/// would be removed, when `dry_run`). Arrays numpy wrote are never removed: their creator is
/// unknown.
SHMPOOL_API std::vector<std::string> collect_garbage(bool dry_run = false);

}  // namespace shmpool
