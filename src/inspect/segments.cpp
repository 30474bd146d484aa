// Segments: the MAP_SHARED mappings of the processes read, grouped by device and inode, with
// their resident size (mincore on the file) and the verdict on whether they hold one copy.
#include "segments.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

#include "os.hpp"
#include "proc_files.hpp"
#include "smaps.hpp"

namespace shmpool::detail {
namespace {

struct file_residency {
    std::uint64_t size_kb = 0;
    std::uint64_t resident_kb = 0;
};

// Opens `path` if it is the file dev:inode, and counts its resident pages.
std::optional<file_residency> residency_of(const std::string& path, std::uint64_t dev_id,
                                           std::uint64_t inode) {
    int err = 0;
    const file_descriptor fd = try_open_file(path, O_RDONLY, 0, err);
    struct stat st {};
    if (!fd || !try_stat_fd(fd.get(), st, err) || !S_ISREG(st.st_mode)) return std::nullopt;
    if (st.st_dev != dev_id || st.st_ino != inode || !may_see_page_cache(fd.get(), st.st_uid))
        return std::nullopt;
    file_residency r;
    const auto size = static_cast<std::size_t>(st.st_size);
    r.size_kb = (size + 1023) / 1024;
    if (size == 0) return r;
    const mapped_region region = try_map_fd_read_only(fd.get(), size, err);
    if (!region.data()) return std::nullopt;
    const std::optional<std::uint64_t> pages = resident_pages(region);
    if (!pages) return std::nullopt;
    r.resident_kb = *pages * (system_page_size() / 1024);
    return r;
}

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

}  // namespace

std::vector<segment_memory> collect_segments(const std::vector<process_memory>& processes) {
    std::map<segment_key, segment_builder> builders;
    for (const process_memory& p : processes) add_process(builders, p);
    std::vector<segment_memory> out;
    for (auto& [key, b] : builders) {
        finish_segment(b);
        out.push_back(std::move(b.seg));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.resident_kb > b.resident_kb; });
    return out;
}

}  // namespace shmpool::detail
