// Memory inspection: which processes to read (PIDs, a process tree, the users of a segment),
// reading them, and the report (smaps.cpp reads and parses, segments.cpp groups).
#include "shmpool/memory.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "os.hpp"
#include "proc_files.hpp"
#include "segments.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "smaps.hpp"

namespace shmpool {
namespace {

using namespace detail;

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
        for_each_line(f.text,
                      [&](std::string_view line) { found = found || maps_file(line, st, path); });
        if (found) scan.pids.push_back(pid);
    }
    return scan;
}

memory_report inspect_users(const detail::location& where) {
    const std::string path = where.path();
    const std::string who = where.describe("segment") + " (" + path + ")";
    struct stat st {};
    int err = 0;
    if (!detail::stat_path(path, st, err)) detail::throw_errno(err, "cannot find " + who);
    const std::string canonical = detail::canonical_path(path);
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
        if (const std::optional<detail::process_stat> st = read_stat(pid))
            children[st->ppid].push_back(pid);
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
