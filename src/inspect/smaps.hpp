// /proc/PID/smaps: one process's mappings with pmap -x's columns, and the current path of
// files mapped under a stale name.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "shmpool/memory.hpp"

namespace shmpool::detail {

/// The header line of a mapping: "7f12a0000000-7f12c0000000 rw-s 00000000 00:1a 1234  NAME".
memory_mapping parse_header(std::string_view line);
/// Adds a mapping's figures to a sum.
void add_usage(memory_usage& sum, const memory_mapping& m);
/// Parses a whole smaps text into `out`'s mappings, total and shared sums.
void parse_smaps(std::string_view text, process_memory& out);
/// Reads the smaps of `pid` into `out`. Returns why it could not when the process was gone
/// before or during the read (a zombie, a kernel thread...); throws system_error when this
/// process may not read it (another user's: never zeros).
std::optional<std::string> read_smaps(pid_t pid, process_memory& out);

/// " (deleted)", what the kernel appends to the name of a file removed since it was mapped.
inline constexpr std::string_view deleted_suffix = " (deleted)";
/// Whether a mapping's name ends in deleted_suffix.
bool is_deleted(std::string_view name);

/// Finds the current path of files that are mapped under a stale name
/// ("/dev/shm/#3396 (deleted)": an array built unnamed, then linked) by device and inode.
class path_resolver {
public:
    /// The path of the file `m` maps, "" when it maps none (or the file is gone).
    std::string path_of(const memory_mapping& m);
    /// Fills in memory_mapping::path for every mapping of `p`.
    void resolve(process_memory& p) {
        for (memory_mapping& m : p.mappings) m.path = path_of(m);
    }

private:
    using file_key = std::pair<std::uint64_t, std::uint64_t>;  // device, inode
    // The regular files of `dir` by device and inode; none unless `dir` is on device `dev`
    // (so /dev is never listed for "/dev/zero (deleted)").
    const std::map<file_key, std::string>& files_in(const std::string& dir, std::uint64_t dev);
    std::map<std::string, std::map<file_key, std::string>> dirs_;
};

}  // namespace shmpool::detail
