// /proc/PID/smaps: reading it, parsing it into mappings (pmap -x's columns), and finding the
// current path of files mapped under a stale name.
#include "smaps.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

#include "proc_files.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

namespace {

constexpr std::size_t smaps_first_read = 256 * 1024;

// "rw-s" -> "rw-s-", "r-xp" -> "r-x--": the mode column of pmap -x.
std::string pmap_mode(std::string_view perms) {
    std::string mode = "-----";
    for (std::size_t i = 0; i < 3 && i < perms.size(); ++i) mode[i] = perms[i];
    if (perms.size() > 3 && perms[3] == 's') mode[3] = 's';
    return mode;
}

}  // namespace

// "7f12a0000000-7f12c0000000 rw-s 00000000 00:1a 1234       /dev/shm/grid"
memory_mapping parse_header(std::string_view line) {
    memory_mapping m;
    const std::string_view range = next_field(line);
    const std::string_view perms = next_field(line);
    const std::string_view offset = next_field(line);
    const std::string_view dev = next_field(line);
    const std::string_view inode = next_field(line);
    const std::size_t dash = range.find('-');
    m.start = to_number(range.substr(0, dash), 16);
    m.end = dash == range.npos ? m.start : to_number(range.substr(dash + 1), 16);
    m.kbytes = (m.end - m.start) / 1024;
    m.mode = pmap_mode(perms);
    m.offset = to_number(offset, 16);
    m.dev = std::string(dev);
    const std::size_t colon = dev.find(':');
    const auto major = static_cast<unsigned>(to_number(dev.substr(0, colon), 16));
    const auto minor =
        colon == dev.npos ? 0u : static_cast<unsigned>(to_number(dev.substr(colon + 1), 16));
    m.dev_id = makedev(major, minor);
    m.inode = to_number(inode);
    const std::size_t name = line.find_first_not_of(' ');
    if (name != line.npos) m.name = std::string(line.substr(name));
    return m;
}

namespace {

// One "Key:   123 kB" line of a mapping.
void add_field(memory_mapping& m, std::string_view key, std::string_view rest) {
    if (key != "Rss" && key != "Pss" && key != "Shared_Dirty" && key != "Private_Clean" &&
        key != "Private_Dirty" && key != "Swap")
        return;
    const std::uint64_t kb = to_number(next_field(rest));
    if (key == "Rss")
        m.rss_kb = kb;
    else if (key == "Pss")
        m.pss_kb = kb;
    else if (key == "Swap")
        m.swap_kb = kb;
    else if (key == "Shared_Dirty")
        m.dirty_kb += kb;
    else if (key == "Private_Clean")
        m.uss_kb += kb;
    else {
        m.dirty_kb += kb;
        m.uss_kb += kb;
    }
}

}  // namespace

void add_usage(memory_usage& sum, const memory_mapping& m) {
    sum.rss_kb += m.rss_kb;
    sum.pss_kb += m.pss_kb;
    sum.uss_kb += m.uss_kb;
    sum.swap_kb += m.swap_kb;
}

void parse_smaps(std::string_view text, process_memory& out) {
    for_each_line(text, [&](std::string_view line) {
        const std::size_t space = line.find(' ');
        const std::string_view first = line.substr(0, space);
        if (first.empty()) return;
        if (first.back() == ':') {
            if (!out.mappings.empty())
                add_field(out.mappings.back(), first.substr(0, first.size() - 1),
                          line.substr(first.size()));
        } else if (first.find('-') != first.npos) {
            out.mappings.push_back(parse_header(line));
        }
    });
    for (const memory_mapping& m : out.mappings) {
        add_usage(out.total, m);
        if (m.is_shared()) add_usage(out.shared, m);
    }
}

namespace {

[[noreturn]] void throw_unreadable(pid_t pid, const process_stat& st, int err) {
    const std::string what = "cannot read " + proc_path(pid, "smaps") + " (process " +
                             std::to_string(pid) + ", " + st.comm;
    if (err != EACCES && err != EPERM)
        throw system_error(std::error_code(err, std::generic_category()), what + ")");
    const std::string why =
        effective_uid() == 0
            ? ": protected even from root here (not dumpable, or in another namespace))"
            : ", of " + owner_of(pid) + ": run as that user or as root to read its memory)";
    throw system_error(std::error_code(EACCES, std::generic_category()), what + why);
}

}  // namespace

// Reads the smaps of `pid` into `out`. Returns why it could not when the process was gone
// before or during the read; throws when the caller may not read it.
std::optional<std::string> read_smaps(pid_t pid, process_memory& out) {
    const std::optional<process_stat> before = read_stat(pid);
    if (!before) return "exited before it could be read";
    if (before->dead()) return "exited: a zombie its parent has not reaped yet";
    if (before->kernel_thread()) return "a kernel thread: it has no user memory";
    const auto start = std::chrono::steady_clock::now();
    const proc_text f = read_proc_file(proc_path(pid, "smaps"), smaps_first_read);
    if (f.err == ENOENT || f.err == ESRCH) return "exited while being read";
    if (f.err != 0) throw_unreadable(pid, *before, f.err);
    const std::optional<process_stat> after = read_stat(pid);
    if (!after || after->start_time != before->start_time || after->dead())
        return "exited while being read";
    if (f.text.empty()) throw_unreadable(pid, *before, EACCES);  // denied at read time
    out.pid = pid;
    out.command = before->comm;
    parse_smaps(f.text, out);
    out.read_seconds = seconds_since(start);
    return std::nullopt;
}

bool is_deleted(std::string_view name) {
    return name.size() >= deleted_suffix.size() &&
           name.substr(name.size() - deleted_suffix.size()) == deleted_suffix;
}

std::string path_resolver::path_of(const memory_mapping& m) {
    if (m.name.empty() || m.name.front() != '/') return {};
    if (!is_deleted(m.name)) return m.name;
    if (!m.is_shared() || m.inode == 0) return {};
    const std::string_view stale =
        std::string_view(m.name).substr(0, m.name.size() - deleted_suffix.size());
    const std::string dir(stale.substr(0, std::max<std::size_t>(stale.rfind('/'), 1)));
    const std::map<file_key, std::string>& files = files_in(dir, m.dev_id);
    const auto it = files.find({m.dev_id, m.inode});
    return it == files.end() ? std::string() : it->second;
}

// The regular files of `dir` by device and inode; none unless `dir` is on device `dev`
// (so /dev is never listed for "/dev/zero (deleted)").
const std::map<path_resolver::file_key, std::string>& path_resolver::files_in(
    const std::string& dir, std::uint64_t dev) {
    const auto [it, added] = dirs_.try_emplace(dir);
    struct stat st {};
    int err = 0;
    if (!added || !stat_path(dir, st, err) || st.st_dev != dev) return it->second;
    for (const std::string& name : list_directory(dir, err)) {
        const std::string path = (dir == "/" ? "" : dir) + "/" + name;
        try {
            if (lstat_path(path, st) && S_ISREG(st.st_mode))
                it->second.try_emplace({st.st_dev, st.st_ino}, path);
        } catch (const error&) {  // a file this process may not look at
        }
    }
    return it->second;
}

}  // namespace shmpool::detail
