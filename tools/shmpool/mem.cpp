// The `shmpool mem` subcommand: the memory of processes, per mapping (as pmap -x prints it)
// and per shared segment, with the proof that a segment is held once; text or JSON, once or
// every --watch SECONDS.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "shmpool/memory.hpp"

namespace shmpool::cli {
namespace {

pid_t parse_pid(const std::string& text) {
    int pid = 0;
    const char* end = text.data() + text.size();
    const auto [at, ec] = std::from_chars(text.data(), end, pid);
    if (ec != std::errc() || at != end || pid <= 0)
        throw invalid_argument_error("not a process ID: '" + text + "'");
    return pid;
}

memory_report select_memory(const mem_options& o) {
    if (!o.name.empty())
        return is_path(o.name) ? inspect_memory_of_segment(file_path{o.name})
                               : inspect_memory_of_segment(o.name);
    if (!o.root.empty()) return inspect_memory_tree(parse_pid(o.root));
    if (o.pids.empty())
        throw invalid_argument_error("say which processes: PID..., --root PID or --name NAME");
    std::vector<pid_t> pids;
    for (const std::string& p : o.pids) pids.push_back(parse_pid(p));
    return inspect_memory(pids);
}

std::string hex_address(std::uint64_t address) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(address));
    return buf;
}

nlohmann::ordered_json to_json(const memory_usage& u) {
    return {
        {"rss_kb", u.rss_kb}, {"pss_kb", u.pss_kb}, {"uss_kb", u.uss_kb}, {"swap_kb", u.swap_kb}};
}

nlohmann::ordered_json to_json(const memory_mapping& m) {
    return {
        {"start", hex_address(m.start)},
        {"end", hex_address(m.end)},
        {"kbytes", m.kbytes},
        {"rss_kb", m.rss_kb},
        {"pss_kb", m.pss_kb},
        {"dirty_kb", m.dirty_kb},
        {"uss_kb", m.uss_kb},
        {"swap_kb", m.swap_kb},
        {"mode", m.mode},
        {"shared", m.is_shared()},
        {"name", m.name},
        {"path", m.path},
        {"dev", m.dev},
        {"inode", m.inode},
        {"offset", m.offset},
    };
}

nlohmann::ordered_json to_json(const process_memory& p) {
    nlohmann::ordered_json j = {{"pid", p.pid}, {"command", p.command}};
    j.update(to_json(p.total));
    j["shared"] = to_json(p.shared);
    j["read_ms"] = p.read_seconds * 1e3;
    j["mappings"] = nlohmann::ordered_json::array();
    for (const memory_mapping& m : p.mappings) j["mappings"].push_back(to_json(m));
    return j;
}

nlohmann::ordered_json to_json(const segment_memory& s) {
    return {
        {"name", s.name},
        {"mapped_as", s.mapped_as},
        {"dev", s.dev},
        {"inode", s.inode},
        {"size_kb", s.size_kb},
        {"resident_kb", s.resident_kb},
        {"resident_exact", s.resident_exact},
        {"pss_sum_kb", s.pss_sum_kb},
        {"rss_sum_kb", s.rss_sum_kb},
        {"max_rss_kb", s.max_rss_kb},
        {"mappings", s.mappings},
        {"processes", s.processes},
        {"processes_per_page", s.processes_per_page},
        {"one_copy", s.one_copy},
        {"verdict", s.verdict},
    };
}

nlohmann::ordered_json to_json(const memory_report& r) {
    nlohmann::ordered_json j = {{"processes", nlohmann::ordered_json::array()},
                                {"segments", nlohmann::ordered_json::array()},
                                {"skipped", nlohmann::ordered_json::array()}};
    for (const process_memory& p : r.processes) j["processes"].push_back(to_json(p));
    for (const segment_memory& s : r.segments) j["segments"].push_back(to_json(s));
    for (const skipped_process& s : r.skipped)
        j["skipped"].push_back({{"pid", s.pid}, {"reason", s.reason}});
    j["unreadable_processes"] = r.unreadable_processes;
    j["read_ms"] = r.read_seconds * 1e3;
    return j;
}

table_row usage_cells(const memory_usage& u) {
    return {std::to_string(u.rss_kb), std::to_string(u.pss_kb), std::to_string(u.uss_kb),
            std::to_string(u.swap_kb)};
}

void print_process_summary(const memory_report& r) {
    std::vector<table_row> rows{{"PID", "COMMAND", "RSS kB", "PSS kB", "USS kB", "SWAP kB",
                                 "SHARED RSS", "SHARED PSS", "SHARED USS", "SHARED SWAP"}};
    for (const process_memory& p : r.processes) {
        table_row row{std::to_string(p.pid), p.command};
        for (table_row part : {usage_cells(p.total), usage_cells(p.shared)})
            row.insert(row.end(), part.begin(), part.end());
        rows.push_back(std::move(row));
    }
    print_table(rows, "rlrrrrrrrr");
}

// The name pmap -x prints: a file's base name ("grid", "libc.so.6"; the shared segments below
// the tables give full paths), "[ anon ]" and "[ stack ]" for the others.
std::string mapping_name(const memory_mapping& m) {
    const std::string& path = !m.path.empty() ? m.path : m.name;
    if (path.empty()) return "[ anon ]";
    if (path == "[stack]") return "[ stack ]";
    if (path.front() == '[') return path;  // [heap], [vdso], [vvar], [vsyscall]: pmap's own
    const std::string file = path.substr(0, path.find(" (deleted)"));
    return file.substr(file.rfind('/') + 1);
}

void add_to(memory_mapping& sum, const memory_mapping& m) {
    sum.kbytes += m.kbytes;
    sum.rss_kb += m.rss_kb;
    sum.pss_kb += m.pss_kb;
    sum.dirty_kb += m.dirty_kb;
}

table_row sum_row(const std::string& label, const memory_mapping& sum) {
    return {label, std::to_string(sum.kbytes), std::to_string(sum.rss_kb),
            std::to_string(sum.pss_kb), std::to_string(sum.dirty_kb)};
}

// One process's mappings, as pmap -x prints them, with PSS and the device:inode key. The last
// row, "total kB", sums every mapping as pmap -x does; without --all, the shared mappings alone
// are listed, summed in the row "shared kB" above it.
void print_mappings(const process_memory& p, bool all) {
    std::vector<table_row> rows{
        {"Address", "Kbytes", "RSS", "PSS", "Dirty", "Mode", "Dev:Inode", "Mapping"}};
    memory_mapping shared_sum, total;
    std::size_t shown = 0;
    for (const memory_mapping& m : p.mappings) {
        add_to(total, m);
        if (!all && !m.is_shared()) continue;
        ++shown;
        add_to(shared_sum, m);
        rows.push_back({hex_address(m.start), std::to_string(m.kbytes), std::to_string(m.rss_kb),
                        std::to_string(m.pss_kb), std::to_string(m.dirty_kb), m.mode,
                        m.dev + " " + std::to_string(m.inode), mapping_name(m)});
    }
    std::cout << "\nPID " << p.pid << " (" << p.command
              << "): " << (all ? "" : std::to_string(shown) + " shared of ") << p.mappings.size()
              << " mappings" << (all ? "" : " (--all lists them all)") << "\n";
    if (!all && shown > 0) rows.push_back(sum_row("shared kB", shared_sum));
    rows.push_back(sum_row("total kB", total));
    print_table(rows, "lrrrr");
}

std::string pid_list(const std::vector<pid_t>& pids) {
    std::string out;
    for (pid_t pid : pids) {
        if (!out.empty()) out += ' ';
        out += std::to_string(pid);
    }
    return out;
}

void print_segments(const std::vector<segment_memory>& segments) {
    if (segments.empty()) return;
    std::cout << "\nShared segments (grouped by device:inode):\n";
    for (const segment_memory& s : segments) {
        std::cout << (s.name.empty() ? "[ anon ]" : s.name) << " [" << s.dev << " " << s.inode
                  << "], mapped by " << s.processes.size() << " process"
                  << (s.processes.size() == 1 ? "" : "es") << ": " << pid_list(s.processes)
                  << "\n  " << s.verdict << '\n';
    }
}

void print_memory(const memory_report& r, bool all) {
    print_process_summary(r);
    for (const process_memory& p : r.processes) print_mappings(p, all);
    print_segments(r.segments);
    if (!r.skipped.empty()) std::cout << '\n';
    for (const skipped_process& s : r.skipped)
        std::cout << "skipped PID " << s.pid << ": " << s.reason << '\n';
    if (r.unreadable_processes > 0)
        std::cout << "note: " << r.unreadable_processes << " other process"
                  << (r.unreadable_processes == 1 ? "" : "es")
                  << " could not be checked (permission denied: another user's, or protected); "
                     "they may map it too\n";
    char timing[128];
    std::snprintf(timing, sizeof timing, "\nread the smaps of %zu processes in %.1f ms\n",
                  r.processes.size(), r.read_seconds * 1e3);
    std::cout << timing;
}

std::string no_process_read(const memory_report& r) {
    std::string message = "none of the selected processes could be read";
    for (const skipped_process& s : r.skipped)
        message += "; process " + std::to_string(s.pid) + ": " + s.reason;
    return message;
}

std::int64_t now_unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void print_report(const memory_report& r, const mem_options& o) {
    const bool watching = o.watch_seconds > 0;
    if (o.json && watching) {  // one compact object per line, for streaming
        nlohmann::ordered_json j = to_json(r);
        j["time"] = iso8601_utc(now_unix_ns());
        std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                  << '\n';
    } else if (o.json) {
        print_json(to_json(r));
    } else {
        if (watching && ::isatty(STDOUT_FILENO)) std::cout << "\033[H\033[2J";
        if (watching) std::cout << "shmpool mem at " << iso8601_utc(now_unix_ns()) << "\n\n";
        print_memory(r, o.all);
    }
}

}  // namespace

void run_mem(const mem_options& o) {
    for (unsigned n = 1;; ++n) {
        const memory_report r = select_memory(o);
        if (r.processes.empty()) throw not_found_error(no_process_read(r));
        print_report(r, o);
        if (o.watch_seconds <= 0 || (o.count != 0 && n >= o.count)) return;
        if (!std::cout.flush()) throw error("cannot write to standard output");
        std::this_thread::sleep_for(std::chrono::duration<double>(o.watch_seconds));
    }
}

}  // namespace shmpool::cli
