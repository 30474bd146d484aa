// Reading /proc for memory inspection (see proc_files.hpp).
#include "proc_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "shmpool/error.hpp"

namespace shmpool::detail {

std::string proc_path(pid_t pid, std::string_view file) {
    return "/proc/" + std::to_string(pid) + "/" + std::string(file);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

proc_text read_proc_file(const std::string& path, std::size_t first_chunk) {
    proc_text out;
    const file_descriptor fd = try_open_file(path, O_RDONLY, 0, out.err);
    if (!fd) return out;
    std::size_t size = 0;
    out.text.resize(first_chunk);
    try {
        for (;;) {
            const std::size_t room = out.text.size() - size;
            size += read_at(fd.get(), out.text.data() + size, room, size, path);
            if (size < out.text.size()) break;
            out.text.resize(out.text.size() * 2);
        }
    } catch (const system_error& e) {
        out.err = e.code().value();
    } catch (const not_found_error&) {
        out.err = ENOENT;
    }
    out.text.resize(size);
    return out;
}

// The next field of `s`, separated by spaces; `s` moves past it.
std::string_view next_field(std::string_view& s) {
    const std::size_t begin = std::min(s.find_first_not_of(' '), s.size());
    s.remove_prefix(begin);
    const std::size_t end = std::min(s.find(' '), s.size());
    const std::string_view field = s.substr(0, end);
    s.remove_prefix(end);
    return field;
}

std::uint64_t to_number(std::string_view s, int base) {
    std::uint64_t value = 0;
    std::from_chars(s.data(), s.data() + s.size(), value, base);
    return value;
}

std::optional<process_stat> read_stat(pid_t pid) {
    process_stat s;
    if (!read_process_stat(pid, s)) return std::nullopt;
    return s;
}

// Every process in /proc (thread group leaders), ascending.
std::vector<pid_t> all_pids() {
    int err = 0;
    const std::vector<std::string> names = list_directory("/proc", err);
    if (err != 0) throw_errno(err, "cannot list the processes in /proc");
    std::vector<pid_t> pids;
    for (const std::string& n : names)
        if (!n.empty() && n.find_first_not_of("0123456789") == n.npos)
            pids.push_back(static_cast<pid_t>(to_number(n)));
    std::sort(pids.begin(), pids.end());
    return pids;
}

void require_process(pid_t pid) {
    if (pid <= 0) throw invalid_argument_error("not a process ID: " + std::to_string(pid));
    if (!read_stat(pid))
        throw not_found_error("no process " + std::to_string(pid) +
                              ": it does not exist or has exited; list processes with `ps`");
}

std::string owner_of(pid_t pid) {
    struct stat st {};
    int err = 0;
    if (!stat_path(proc_path(pid, ""), st, err)) return "another user";
    const std::string uid = std::to_string(st.st_uid);
    const std::string name = user_name(st.st_uid);
    return name.empty() ? "user " + uid : "user " + name + " (" + uid + ")";
}

std::string processes_text(std::uint64_t n) {
    return std::to_string(n) + (n == 1 ? " process" : " processes");
}

}  // namespace shmpool::detail
