// Reading /proc for memory inspection: whole files in large chunks, their lines and fields,
// the processes that exist, who owns one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "os.hpp"

namespace shmpool::detail {

/// "/proc/PID/FILE".
std::string proc_path(pid_t pid, std::string_view file);
/// Seconds from `start` until now.
double seconds_since(std::chrono::steady_clock::time_point start);

/// A /proc file's text and the error that stopped the read (`text` holds what came before it).
struct proc_text {
    std::string text;
    int err = 0;
};
/// Reads a whole /proc file, growing its buffer from `first_chunk` bytes.
proc_text read_proc_file(const std::string& path, std::size_t first_chunk);

/// Calls fn(line) for each line of `text`, without the newline.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        fn(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

/// The next field of `s`, separated by spaces; `s` moves past it.
std::string_view next_field(std::string_view& s);
/// The number `s` spells in `base`; 0 when it spells none.
std::uint64_t to_number(std::string_view s, int base = 10);

/// /proc/PID/stat through the OS seam; nullopt when there is no such process.
std::optional<process_stat> read_stat(pid_t pid);
/// Every process in /proc (thread group leaders), ascending.
std::vector<pid_t> all_pids();
/// Throws invalid_argument_error (not a PID) or not_found_error (no such process).
void require_process(pid_t pid);
/// "user alice (1000)": who owns process `pid`.
std::string owner_of(pid_t pid);
/// "1 process", "3 processes".
std::string processes_text(std::uint64_t n);

}  // namespace shmpool::detail
