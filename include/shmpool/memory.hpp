// Memory inspection: what /proc/PID/smaps says about a set of processes, per mapping (what
// `pmap -x` prints), per process (what `smem` prints) and per shared segment, with the figures
// that prove a segment is held once however many processes map it. What `shmpool mem` shows.
// Every call reads /proc afresh and keeps no state: safe from any thread, and after fork().
//
// @code
// const shmpool::memory_report r = shmpool::inspect_memory_tree(::getpid());   // me, my pool
// for (const shmpool::segment_memory& s : r.segments) std::puts(s.verdict.c_str());
// // "one copy: sum of PSS 524286 kB = 100.0% of 524288 kB resident, 4.00 processes per page"
// @endcode
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// Memory figures in kB (1024 bytes), as the kernel counts them in /proc/PID/smaps.
struct memory_usage {
    std::uint64_t rss_kb = 0;   // resident pages, each counted in full
    std::uint64_t pss_kb = 0;   // resident pages, each divided by the number of its mappers
    std::uint64_t uss_kb = 0;   // pages no other process maps: Private_Clean + Private_Dirty
    std::uint64_t swap_kb = 0;  // swapped out
};

/// One mapping of a process (one entry of /proc/PID/smaps): the columns of `pmap -x`, the PSS
/// of `pmap -X`, and the device and inode that identify the file behind it.
struct memory_mapping {
    std::uint64_t start = 0;   // first address
    std::uint64_t end = 0;     // one past the last address
    std::uint64_t kbytes = 0;  // size of the range: (end - start) / 1024
    std::uint64_t rss_kb = 0;
    std::uint64_t pss_kb = 0;    // truncated to whole kB for each mapping, as the kernel does
    std::uint64_t dirty_kb = 0;  // Shared_Dirty + Private_Dirty
    std::uint64_t uss_kb = 0;    // Private_Clean + Private_Dirty
    std::uint64_t swap_kb = 0;
    std::string mode;          // as pmap -x prints it: "rw-s-" (shared), "r-x--" (private)
    std::uint64_t offset = 0;  // offset in the file, in bytes
    std::string dev;           // "00:1a": major:minor in hex, as smaps prints it
    std::uint64_t dev_id = 0;  // the same device as one number, comparable with st_dev
    std::uint64_t inode = 0;   // 0 for anonymous memory
    std::string name;          // as smaps (and pmap) show it: "/dev/shm/grid", "[heap]",
                               // "/dev/zero (deleted)", "" (anonymous)
    /// The file's path now: `name` for a file, or, for a shared mapping shown under a stale name,
    /// the name its inode has now in the same directory. shmpool creates an array unnamed
    /// (O_TMPFILE) and names it once complete, so its mappings show as "/dev/shm/#3396
    /// (deleted)" while the array is /dev/shm/grid. Empty for anonymous memory, pseudo-files
    /// ("[heap]") and files without a name.
    std::string path;

    /// A MAP_SHARED mapping (the 's' of the mode): shared memory, or a file mapped shared.
    bool is_shared() const noexcept { return mode.size() > 3 && mode[3] == 's'; }
};

/// The memory of one process.
struct process_memory {
    pid_t pid = 0;
    std::string command;                   // the name in /proc/PID/stat ("python3")
    memory_usage total;                    // summed over every mapping, as smem sums them
    memory_usage shared;                   // summed over its MAP_SHARED mappings only
    std::vector<memory_mapping> mappings;  // every mapping, in address order
    double read_seconds = 0;               // time spent reading and parsing its smaps
};

/// One shared segment (a file, /dev/shm entry or anonymous shared memory mapped MAP_SHARED)
/// as seen over the selected processes. Mappings are grouped by device and inode, never by
/// name: two unrelated "/dev/zero (deleted)" mappings are two segments.
struct segment_memory {
    std::string name;       // its path now when known (see memory_mapping::path), or
                            // the name smaps shows for it
    std::string mapped_as;  // the name smaps shows for it
    std::string dev;        // "00:1a"
    std::uint64_t dev_id = 0;
    std::uint64_t inode = 0;
    std::vector<pid_t> processes;  // the selected processes that map it, ascending
    std::uint64_t mappings = 0;    // how many mappings of it those processes hold in all
    std::uint64_t pss_sum_kb = 0;  // PSS of those mappings, summed over the processes
    std::uint64_t rss_sum_kb = 0;  // RSS of those mappings, summed over the processes
    std::uint64_t max_rss_kb = 0;  // the largest RSS one process has of it
    std::uint64_t size_kb = 0;     // size of the file when it could be opened, else 0
    /// Resident size of the segment. Exact when `resident_exact`: the pages of the file present
    /// in memory, counted with mincore() on a read-only mapping of the file (opened by its path,
    /// or through /proc/PID/map_files for deleted and anonymous segments). Otherwise (the file
    /// could not be opened) it is `max_rss_kb`: exact for a segment one process maps in full,
    /// a lower bound when the processes map different parts of it.
    std::uint64_t resident_kb = 0;
    bool resident_exact = false;
    double processes_per_page = 0;  // rss_sum_kb / resident_kb: mappers per resident page
    /// pss_sum_kb accounts for resident_kb, within the per-mapping truncation of PSS (under 1 kB
    /// per mapping): the selected processes share one copy and nothing else holds it.
    bool one_copy = false;
    /// One line: "one copy: sum of PSS 524286 kB = 100.0% of 524288 kB resident, 4.00 processes
    /// per page".
    std::string verdict;
};

/// A selected process that could not be read, and why ("exited while being read").
struct skipped_process {
    pid_t pid = 0;
    std::string reason;
};

/// What inspect_memory() and its variants return.
struct memory_report {
    std::vector<process_memory> processes;  // in the order selected
    std::vector<segment_memory> segments;   // largest resident size first
    std::vector<skipped_process> skipped;   // processes that exited before they could be read
    /// Selection by segment only: processes whose maps could not be read (another user's, or
    /// protected like PID 1 in some containers), which may map the segment too.
    std::uint64_t unreadable_processes = 0;
    double read_seconds = 0;  // time spent reading smaps, all processes together
};

/// The memory of the processes `pids` (duplicates are read once).
/// A process that exits while being read is listed in `skipped`, not reported with zeros.
/// Throws invalid_argument_error (empty list, PID <= 0), not_found_error (a PID that does not
/// exist), system_error (a process the caller may not read: another user's, code EACCES).
SHMPOOL_API memory_report inspect_memory(const std::vector<pid_t>& pids);

/// The memory of `root` and all its descendants (a pool: its parent and workers), root first.
/// Throws as inspect_memory().
SHMPOOL_API memory_report inspect_memory_tree(pid_t root);

/// The memory of every process that maps the array NAME of /dev/shm (matched by device and
/// inode). Processes the caller may not read are counted in `unreadable_processes`.
/// Throws not_found_error (no such array, or no process maps it), invalid_argument_error
/// (unusable name), system_error.
SHMPOOL_API memory_report inspect_memory_of_segment(std::string_view name);
/// The same for the file at `file.path`.
SHMPOOL_API memory_report inspect_memory_of_segment(const file_path& file);

/// `root` and its descendants, root first, then breadth first. Throws not_found_error.
SHMPOOL_API std::vector<pid_t> process_tree(pid_t root);

/// The smaps of one process. Throws not_found_error (no such process, or it exited while being
/// read), system_error (permission: code EACCES).
SHMPOOL_API process_memory read_process_memory(pid_t pid);

}  // namespace shmpool
