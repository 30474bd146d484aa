#include "shmpool/memory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <tuple>
#include <unordered_map>

#include "os.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"

namespace shmpool {
namespace {

constexpr std::size_t smaps_first_read = 256 * 1024;

std::string proc_path(pid_t pid, std::string_view file) {
    return "/proc/" + std::to_string(pid) + "/" + std::string(file);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Reading /proc files: whole, in large chunks.

struct proc_text {
    std::string text;
    int err = 0;  // the error that stopped the read; `text` holds what was read before it
};

proc_text read_proc_file(const std::string& path, std::size_t first_chunk) {
    proc_text out;
    const detail::file_descriptor fd = detail::try_open_file(path, O_RDONLY, 0, out.err);
    if (!fd) return out;
    std::size_t size = 0;
    out.text.resize(first_chunk);
    try {
        for (;;) {
            const std::size_t room = out.text.size() - size;
            size += detail::read_at(fd.get(), out.text.data() + size, room, size, path);
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

// Calls fn(line) for each line of `text`, without the newline.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        fn(text.substr(0, nl));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
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

std::uint64_t to_number(std::string_view s, int base = 10) {
    std::uint64_t value = 0;
    std::from_chars(s.data(), s.data() + s.size(), value, base);
    return value;
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/stat, through the OS seam's one reader

using proc_stat = detail::process_stat;

std::optional<proc_stat> read_stat(pid_t pid) {
    proc_stat s;
    if (!detail::read_process_stat(pid, s)) return std::nullopt;
    return s;
}

// Every process in /proc (thread group leaders), ascending.
std::vector<pid_t> all_pids() {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir("/proc"), &::closedir);
    if (!d) detail::throw_errno(errno, "cannot list the processes in /proc");
    std::vector<pid_t> pids;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string_view n = e->d_name;
        if (!n.empty() && n.find_first_not_of("0123456789") == n.npos)
            pids.push_back(static_cast<pid_t>(to_number(n)));
    }
    std::sort(pids.begin(), pids.end());
    return pids;
}

void require_process(pid_t pid) {
    if (pid <= 0) throw invalid_argument_error("not a process ID: " + std::to_string(pid));
    if (!read_stat(pid))
        throw not_found_error("no process " + std::to_string(pid) +
                              ": it does not exist or has exited; list processes with `ps`");
}

// ---------------------------------------------------------------------------------------------
// /proc/PID/smaps

// "rw-s" -> "rw-s-", "r-xp" -> "r-x--": the mode column of pmap -x.
std::string pmap_mode(std::string_view perms) {
    std::string mode = "-----";
    for (std::size_t i = 0; i < 3 && i < perms.size(); ++i) mode[i] = perms[i];
    if (perms.size() > 3 && perms[3] == 's') mode[3] = 's';
    return mode;
}

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

// One "Key:   123 kB" line of a mapping.
void add_field(memory_mapping& m, std::string_view key, std::string_view rest) {
    if (key != "Rss" && key != "Pss" && key != "Shared_Dirty" && key != "Private_Clean" &&
        key != "Private_Dirty" && key != "Swap")
        return;
    const std::uint64_t kb = to_number(next_field(rest));
    if (key == "Rss") m.rss_kb = kb;
    else if (key == "Pss") m.pss_kb = kb;
    else if (key == "Swap") m.swap_kb = kb;
    else if (key == "Shared_Dirty") m.dirty_kb += kb;
    else if (key == "Private_Clean") m.uss_kb += kb;
    else {
        m.dirty_kb += kb;
        m.uss_kb += kb;
    }
}

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

std::string owner_of(pid_t pid) {
    struct stat st{};
    if (::stat(proc_path(pid, "").c_str(), &st) != 0) return "another user";
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    const std::string uid = std::to_string(st.st_uid);
    if (::getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &found) == 0 && found)
        return "user " + std::string(found->pw_name) + " (" + uid + ")";
    return "user " + uid;
}

std::string processes_text(std::uint64_t n) {
    return std::to_string(n) + (n == 1 ? " process" : " processes");
}

[[noreturn]] void throw_unreadable(pid_t pid, const proc_stat& st, int err) {
    const std::string what = "cannot read " + proc_path(pid, "smaps") + " (process " +
                             std::to_string(pid) + ", " + st.comm;
    if (err != EACCES && err != EPERM)
        throw system_error(std::error_code(err, std::generic_category()), what + ")");
    const std::string why =
        ::geteuid() == 0
            ? ": protected even from root here (not dumpable, or in another namespace))"
            : ", of " + owner_of(pid) + ": run as that user or as root to read its memory)";
    throw system_error(std::error_code(EACCES, std::generic_category()), what + why);
}

// Reads the smaps of `pid` into `out`. Returns why it could not when the process was gone
// before or during the read; throws when the caller may not read it.
std::optional<std::string> read_smaps(pid_t pid, process_memory& out) {
    const std::optional<proc_stat> before = read_stat(pid);
    if (!before) return "exited before it could be read";
    if (before->dead()) return "exited: a zombie its parent has not reaped yet";
    if (before->kernel_thread()) return "a kernel thread: it has no user memory";
    const auto start = std::chrono::steady_clock::now();
    const proc_text f = read_proc_file(proc_path(pid, "smaps"), smaps_first_read);
    if (f.err == ENOENT || f.err == ESRCH) return "exited while being read";
    if (f.err != 0) throw_unreadable(pid, *before, f.err);
    const std::optional<proc_stat> after = read_stat(pid);
    if (!after || after->start_time != before->start_time || after->dead())
        return "exited while being read";
    if (f.text.empty()) throw_unreadable(pid, *before, EACCES);  // denied at read time
    out.pid = pid;
    out.command = before->comm;
    parse_smaps(f.text, out);
    out.read_seconds = seconds_since(start);
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Current paths of files mapped under a stale name ("/dev/shm/#3396 (deleted)").

constexpr std::string_view deleted_suffix = " (deleted)";

bool is_deleted(std::string_view name) {
    return name.size() >= deleted_suffix.size() &&
           name.substr(name.size() - deleted_suffix.size()) == deleted_suffix;
}

using file_key = std::pair<std::uint64_t, std::uint64_t>;  // device, inode

class path_resolver {
public:
    std::string path_of(const memory_mapping& m) {
        if (m.name.empty() || m.name.front() != '/') return {};
        if (!is_deleted(m.name)) return m.name;
        if (!m.is_shared() || m.inode == 0) return {};
        const std::string_view stale = std::string_view(m.name).substr(
            0, m.name.size() - deleted_suffix.size());
        const std::string dir(stale.substr(0, std::max<std::size_t>(stale.rfind('/'), 1)));
        const std::map<file_key, std::string>& files = files_in(dir, m.dev_id);
        const auto it = files.find({m.dev_id, m.inode});
        return it == files.end() ? std::string() : it->second;
    }

    void resolve(process_memory& p) {
        for (memory_mapping& m : p.mappings) m.path = path_of(m);
    }

private:
    // The regular files of `dir` by device and inode; none unless `dir` is on device `dev`
    // (so /dev is never listed for "/dev/zero (deleted)").
    const std::map<file_key, std::string>& files_in(const std::string& dir, std::uint64_t dev) {
        const auto [it, added] = dirs_.try_emplace(dir);
        struct stat st{};
        if (!added || ::stat(dir.c_str(), &st) != 0 || st.st_dev != dev) return it->second;
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
        while (d) {
            const dirent* e = ::readdir(d.get());
            if (e == nullptr) break;
            const std::string path = (dir == "/" ? "" : dir) + "/" + e->d_name;
            if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
                it->second.try_emplace({st.st_dev, st.st_ino}, path);
        }
        return it->second;
    }

    std::map<std::string, std::map<file_key, std::string>> dirs_;
};

// ---------------------------------------------------------------------------------------------
// Resident pages of a segment's file: mincore() on a read-only mapping of it.

std::size_t page_size() {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

std::optional<std::uint64_t> resident_pages(const detail::mapped_region& region) {
    constexpr std::size_t window_pages = 1 << 16;
    std::vector<unsigned char> vec(window_pages);
    const std::size_t window = window_pages * page_size();
    std::uint64_t count = 0;
    for (std::size_t off = 0; off < region.size(); off += window) {
        const std::size_t len = std::min(window, region.size() - off);
        if (::mincore(region.data() + off, len, vec.data()) != 0) return std::nullopt;
        const std::size_t pages = (len + page_size() - 1) / page_size();
        for (std::size_t i = 0; i < pages; ++i) count += vec[i] & 1;
    }
    return count;
}

// The kernel reports the page cache through mincore() only to the file's owner or to whoever
// may write it; to others it reports nothing resident.
bool may_see_page_cache(int fd, const struct stat& st) {
    if (st.st_uid == ::geteuid()) return true;
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    return ::faccessat(AT_FDCWD, self.c_str(), W_OK, AT_EACCESS) == 0;
}

struct file_residency {
    std::uint64_t size_kb = 0;
    std::uint64_t resident_kb = 0;
};

// Opens `path` if it is the file dev:inode, and counts its resident pages.
std::optional<file_residency> residency_of(const std::string& path, std::uint64_t dev_id,
                                           std::uint64_t inode) {
    int err = 0;
    const detail::file_descriptor fd = detail::try_open_file(path, O_RDONLY, 0, err);
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    if (st.st_dev != dev_id || st.st_ino != inode || !may_see_page_cache(fd.get(), st))
        return std::nullopt;
    file_residency r;
    const auto size = static_cast<std::size_t>(st.st_size);
    r.size_kb = (size + 1023) / 1024;
    if (size == 0) return r;
    void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (addr == MAP_FAILED) return std::nullopt;
    const detail::mapped_region region(addr, size);
    const std::optional<std::uint64_t> pages = resident_pages(region);
    if (!pages) return std::nullopt;
    r.resident_kb = *pages * (page_size() / 1024);
    return r;
}

// ---------------------------------------------------------------------------------------------
// Segments: MAP_SHARED mappings grouped by device and inode.

struct segment_key {
    std::uint64_t dev_id;
    std::uint64_t inode;
    std::string name;  // only for inode 0, where dev:inode identifies nothing

    friend bool operator<(const segment_key& a, const segment_key& b) {
        return std::tie(a.dev_id, a.inode, a.name) < std::tie(b.dev_id, b.inode, b.name);
    }
};

struct segment_builder {
    segment_memory seg;
    pid_t some_pid = 0;  // a process that maps it, and where: for /proc/PID/map_files
    std::uint64_t start = 0;
    std::uint64_t end = 0;
};

void measure_residency(segment_builder& b) {
    segment_memory& s = b.seg;
    std::optional<file_residency> r;
    if (!s.name.empty() && s.name.front() == '/' && !is_deleted(s.name))
        r = residency_of(s.name, s.dev_id, s.inode);
    if (!r) {
        char range[64];
        std::snprintf(range, sizeof range, "%llx-%llx", static_cast<unsigned long long>(b.start),
                      static_cast<unsigned long long>(b.end));
        r = residency_of(proc_path(b.some_pid, "map_files/") + range, s.dev_id, s.inode);
    }
    s.resident_exact = r.has_value();
    s.size_kb = r ? r->size_kb : 0;
    s.resident_kb = r ? r->resident_kb : s.max_rss_kb;
}

std::string verdict_of(const segment_memory& s) {
    if (s.resident_kb == 0) return "nothing resident";
    char figures[256];
    std::snprintf(figures, sizeof figures,
                  "sum of PSS %llu kB = %.1f%% of %llu kB resident%s, %.2f processes per page",
                  static_cast<unsigned long long>(s.pss_sum_kb),
                  100.0 * static_cast<double>(s.pss_sum_kb) / static_cast<double>(s.resident_kb),
                  static_cast<unsigned long long>(s.resident_kb),
                  s.resident_exact ? "" : " (estimated: the largest RSS of one process)",
                  s.processes_per_page);
    if (s.one_copy) return std::string("one copy: ") + figures;
    if (s.pss_sum_kb < s.resident_kb)
        return std::string("partly outside the selection: ") + figures +
               "; the rest is mapped by other processes, or by none";
    return figures;
}

void finish_segment(segment_builder& b) {
    segment_memory& s = b.seg;
    std::sort(s.processes.begin(), s.processes.end());
    s.processes.erase(std::unique(s.processes.begin(), s.processes.end()), s.processes.end());
    measure_residency(b);
    if (s.resident_kb > 0)
        s.processes_per_page =
            static_cast<double>(s.rss_sum_kb) / static_cast<double>(s.resident_kb);
    // PSS is truncated to whole kB per mapping: the sum falls short by under 1 kB per mapping.
    s.one_copy = s.resident_kb > 0 && s.pss_sum_kb <= s.resident_kb &&
                 s.resident_kb - s.pss_sum_kb <= s.mappings;
    s.verdict = verdict_of(s);
}

void add_process(std::map<segment_key, segment_builder>& segments, const process_memory& p) {
    std::map<segment_key, std::uint64_t> rss_here;
    for (const memory_mapping& m : p.mappings) {
        if (!m.is_shared()) continue;
        segment_key key{m.dev_id, m.inode, m.inode == 0 ? m.name : std::string()};
        segment_builder& b = segments[key];
        if (b.some_pid == 0) {
            b.seg.name = m.path.empty() ? m.name : m.path;
            b.seg.mapped_as = m.name;
            b.seg.dev = m.dev;
            b.seg.dev_id = m.dev_id;
            b.seg.inode = m.inode;
            b.some_pid = p.pid;
            b.start = m.start;
            b.end = m.end;
        }
        b.seg.processes.push_back(p.pid);
        b.seg.mappings += 1;
        b.seg.pss_sum_kb += m.pss_kb;
        b.seg.rss_sum_kb += m.rss_kb;
        rss_here[key] += m.rss_kb;
    }
    for (const auto& [key, rss] : rss_here)
        segments[key].seg.max_rss_kb = std::max(segments[key].seg.max_rss_kb, rss);
}

std::vector<segment_memory> collect_segments(const std::vector<process_memory>& processes) {
    std::map<segment_key, segment_builder> builders;
    for (const process_memory& p : processes) add_process(builders, p);
    std::vector<segment_memory> out;
    for (auto& [key, b] : builders) {
        finish_segment(b);
        out.push_back(std::move(b.seg));
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.resident_kb > b.resident_kb;
    });
    return out;
}

// ---------------------------------------------------------------------------------------------
// Selection

memory_report inspect(const std::vector<pid_t>& pids) {
    memory_report report;
    for (pid_t pid : pids) {
        process_memory m;
        if (std::optional<std::string> why = read_smaps(pid, m)) {
            report.skipped.push_back({pid, std::move(*why)});
            continue;
        }
        report.read_seconds += m.read_seconds;
        report.processes.push_back(std::move(m));
    }
    path_resolver resolver;
    for (process_memory& p : report.processes) resolver.resolve(p);
    report.segments = collect_segments(report.processes);
    return report;
}

// Whether a line of /proc/PID/maps is a mapping of the file dev:inode (or of `path`: a file on
// an overlay file system shows the device of the layer that holds it).
bool maps_file(std::string_view line, const struct stat& st, const std::string& path) {
    const memory_mapping m = parse_header(line);
    if (m.dev_id == st.st_dev && m.inode == st.st_ino) return true;
    return m.inode == st.st_ino && m.name == path;
}

struct mapper_scan {
    std::vector<pid_t> pids;
    std::uint64_t unreadable = 0;
};

mapper_scan processes_mapping(const struct stat& st, const std::string& path) {
    mapper_scan scan;
    for (pid_t pid : all_pids()) {
        const proc_text f = read_proc_file(proc_path(pid, "maps"), 64 * 1024);
        if (f.err == EACCES || f.err == EPERM) ++scan.unreadable;
        if (f.err != 0) continue;
        bool found = false;
        for_each_line(f.text, [&](std::string_view line) {
            found = found || maps_file(line, st, path);
        });
        if (found) scan.pids.push_back(pid);
    }
    return scan;
}

memory_report inspect_users(const detail::location& where) {
    const std::string path = where.path();
    const std::string who = where.describe("segment") + " (" + path + ")";
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) detail::throw_errno(errno, "cannot find " + who);
    char real[PATH_MAX];
    const std::string canonical = ::realpath(path.c_str(), real) ? real : path;
    const mapper_scan scan = processes_mapping(st, canonical);
    if (scan.pids.empty()) {
        if (scan.unreadable == 0) throw not_found_error("no process maps " + who);
        throw not_found_error("no process this user may read maps " + who + "; " +
                              processes_text(scan.unreadable) +
                              " could not be checked (permission denied)");
    }
    memory_report report = inspect(scan.pids);
    report.unreadable_processes = scan.unreadable;
    return report;
}

}  // namespace

std::vector<pid_t> process_tree(pid_t root) {
    require_process(root);
    std::unordered_map<pid_t, std::vector<pid_t>> children;
    for (pid_t pid : all_pids()) {
        if (const std::optional<proc_stat> st = read_stat(pid)) children[st->ppid].push_back(pid);
    }
    std::vector<pid_t> tree{root};
    for (std::size_t i = 0; i < tree.size(); ++i) {
        const auto it = children.find(tree[i]);
        if (it != children.end()) tree.insert(tree.end(), it->second.begin(), it->second.end());
    }
    return tree;
}

process_memory read_process_memory(pid_t pid) {
    require_process(pid);
    process_memory m;
    if (std::optional<std::string> why = read_smaps(pid, m))
        throw not_found_error("process " + std::to_string(pid) + ": " + *why);
    path_resolver().resolve(m);
    return m;
}

memory_report inspect_memory(const std::vector<pid_t>& pids) {
    if (pids.empty()) throw invalid_argument_error("no process selected: give at least one PID");
    std::vector<pid_t> unique;
    for (pid_t pid : pids) {
        if (std::find(unique.begin(), unique.end(), pid) != unique.end()) continue;
        require_process(pid);
        unique.push_back(pid);
    }
    return inspect(unique);
}

memory_report inspect_memory_tree(pid_t root) { return inspect(process_tree(root)); }

memory_report inspect_memory_of_segment(std::string_view name) {
    return inspect_users(detail::location::shm(name));
}

memory_report inspect_memory_of_segment(const file_path& file) {
    return inspect_users(detail::location::file(file.path));
}

}  // namespace shmpool
