// shmpool: the command-line tool. Lists, describes and removes the shared arrays in /dev/shm,
// and removes those left behind by processes that died.
//
//   shmpool ls [--json]             every array in /dev/shm
//   shmpool info NAME [--json]      one array in detail (NAME may be a file path: contains '/')
//   shmpool rm NAME...              remove arrays (files that are not arrays are left alone)
//   shmpool gc [--dry-run] [--json] remove non-persistent arrays whose creator died
//   shmpool mem PID... [--json]     memory of processes: RSS, PSS, USS, swap, per mapping and
//                                   per shared segment, with the proof that a segment is held
//                                   once (also --root PID, --name NAME, --watch SECONDS)
//
// Exit codes:
//   0  success
//   1  an operation failed (I/O error, permission denied...)
//   2  usage error: bad arguments, unknown subcommand, unusable array name
//   3  not found: NAME does not exist (mem: no such process, or no process maps NAME)
//   4  not an array: NAME is a file that is not a valid array (another program's segment...)
// `rm` goes on after a failure and exits with the code of the first one that failed.
// Errors go to stderr as "shmpool: <message>".
//
// The directory is /dev/shm unless the environment variable SHMPOOL_SHM_DIR names another one.

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shmpool/catalog.hpp"
#include "shmpool/error.hpp"
#include "shmpool/memory.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {
namespace {

#ifdef SHMPOOL_VERSION
constexpr std::string_view version = SHMPOOL_VERSION;  // the build may pass PROJECT_VERSION
#else
constexpr std::string_view version = "0.1.0";
#endif

enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,
    exit_usage = 2,
    exit_not_found = 3,
    exit_not_array = 4,
};

constexpr std::string_view exit_codes_text =
    "Exit codes:\n"
    "  0  success\n"
    "  1  an operation failed (I/O error, permission denied...)\n"
    "  2  usage error: bad arguments, unknown subcommand, unusable array name\n"
    "  3  not found: NAME does not exist (mem: no such process, or no process maps NAME)\n"
    "  4  not an array: NAME is a file that is not a valid array\n"
    "\n"
    "NAME is an array name in /dev/shm (or in $SHMPOOL_SHM_DIR), or a file path when it\n"
    "contains '/' (write ./file.npy for a file in the current directory).";

// ---------------------------------------------------------------------------------------------
// Errors

int fail(std::string_view message, int code) {
    std::cerr << "shmpool: " << message << '\n';
    return code;
}

// Adds how to find the existing arrays, unless the message already says it, names a file path
// or is about processes (`mem`).
std::string with_ls_hint(std::string message) {
    const auto holds = [&](std::string_view s) { return message.find(s) != std::string::npos; };
    if (!holds("shmpool ls") && !holds("array file") && !holds("process"))
        message += "; list the arrays with `shmpool ls`";
    return message;
}

// Runs `action`, turning what it throws into a message on stderr and an exit code.
template <class Action>
int guarded(Action&& action) {
    try {
        action();
        return exit_ok;
    } catch (const not_found_error& e) {
        return fail(with_ls_hint(e.what()), exit_not_found);
    } catch (const format_error& e) {
        return fail(e.what(), exit_not_array);
    } catch (const invalid_argument_error& e) {
        return fail(e.what(), exit_usage);
    } catch (const std::exception& e) {
        return fail(e.what(), exit_failed);
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting

std::string shape_text(const std::vector<std::size_t>& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(shape[i]);
    }
    if (shape.size() == 1) out += ",";
    return out + ")";
}

std::string human_bytes(std::size_t bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(units)) {
        value /= 1024.0;
        ++unit;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
    return buf;
}

// "2024-05-01T12:34:56.789Z", or "unknown" for 0.
std::string iso8601_utc(std::int64_t unix_ns) {
    if (unix_ns == 0) return "unknown";
    constexpr std::int64_t ns_per_s = 1'000'000'000;
    std::int64_t seconds = unix_ns / ns_per_s;
    std::int64_t rest_ns = unix_ns % ns_per_s;
    if (rest_ns < 0) {
        rest_ns += ns_per_s;
        --seconds;
    }
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return "unknown";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rest_ns / 1'000'000));
    return buf;
}

std::string creator_text(const array_info& a) {
    if (!a.made_by_shmpool) return "numpy";
    return a.creator_pid == 0 ? "unknown" : std::to_string(a.creator_pid);
}

nlohmann::ordered_json to_json(const array_info& a) {
    return {
        {"name", a.name},
        {"path", a.path},
        {"dtype", a.dtype},
        {"shape", a.shape},
        {"data_bytes", a.data_bytes},
        {"file_bytes", a.file_bytes},
        {"made_by_shmpool", a.made_by_shmpool},
        {"creator_pid", a.creator_pid},
        {"creator_alive", a.creator_alive},
        {"persistent", a.persistent},
        {"created_unix_ns", a.created_unix_ns},
    };
}

// File names may hold any bytes: invalid UTF-8 is replaced rather than thrown on.
void print_json(const nlohmann::ordered_json& j) {
    std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

// ---------------------------------------------------------------------------------------------
// A plain text table: columns two spaces apart, no trailing blanks. Columns are left-aligned
// unless `align` has an 'r' at their index.

using table_row = std::vector<std::string>;

void print_table(const std::vector<table_row>& rows, std::string_view align = {}) {
    std::vector<std::size_t> widths;
    for (const table_row& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    }
    for (const table_row& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c > 0) line += "  ";
            const std::size_t pad = widths[c] - row[c].size();
            const bool right = c < align.size() && align[c] == 'r';
            if (right) line.append(pad, ' ');
            line += row[c];
            if (!right && c + 1 < row.size()) line.append(pad, ' ');
        }
        std::cout << line << '\n';
    }
}

table_row ls_row(const array_info& a) {
    const bool known = a.made_by_shmpool;
    return {a.name,
            a.dtype,
            shape_text(a.shape),
            human_bytes(a.file_bytes),
            creator_text(a),
            known ? (a.creator_alive ? "yes" : "no") : "-",
            known ? (a.persistent ? "yes" : "no") : "-"};
}

// ---------------------------------------------------------------------------------------------
// Subcommands

// NAME is a name in /dev/shm, or a file path when it contains '/'.
bool is_path(const std::string& name) { return name.find('/') != std::string::npos; }

array_info describe(const std::string& name) {
    return is_path(name) ? describe_array(file_path{name}) : describe_array(name);
}

void remove(const std::string& name) {
    if (is_path(name)) remove_array(file_path{name});
    else remove_array(name);
}

void run_ls(bool json) {
    const std::vector<array_info> arrays = list_arrays();
    if (json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const array_info& a : arrays) list.push_back(to_json(a));
        print_json({{"arrays", list}});
        return;
    }
    std::vector<table_row> rows{
        {"NAME", "DTYPE", "SHAPE", "BYTES", "CREATOR", "ALIVE", "PERSISTENT"}};
    for (const array_info& a : arrays) rows.push_back(ls_row(a));
    print_table(rows);
}

std::string creator_detail(const array_info& a) {
    if (!a.made_by_shmpool) return "unknown (no creator record: written by numpy)";
    return creator_text(a) + (a.creator_alive ? " (running)" : " (no longer running)");
}

void run_info(const std::string& name, bool json) {
    const array_info a = describe(name);
    if (json) {
        print_json(to_json(a));
        return;
    }
    std::size_t elements = 1;
    for (std::size_t n : a.shape) elements *= n;
    const auto bytes = [](std::size_t n) {
        return std::to_string(n) + " (" + human_bytes(n) + ")";
    };
    print_table({
        {"name:", a.name},
        {"path:", a.path},
        {"dtype:", a.dtype},
        {"shape:", shape_text(a.shape)},
        {"elements:", std::to_string(elements)},
        {"data bytes:", bytes(a.data_bytes)},
        {"file bytes:", bytes(a.file_bytes)},
        {"made by:", a.made_by_shmpool ? "shmpool" : "numpy"},
        {"creator:", creator_detail(a)},
        {"persistent:", a.made_by_shmpool ? (a.persistent ? "yes" : "no") : "-"},
        {"created:", iso8601_utc(a.created_unix_ns)},
    });
}

int run_rm(const std::vector<std::string>& names) {
    int first_failure = exit_ok;
    for (const std::string& name : names) {
        const int code = guarded([&] {
            remove(name);
            std::cout << "removed " << name << '\n';
        });
        if (first_failure == exit_ok) first_failure = code;
    }
    return first_failure;
}

void run_gc(bool dry_run, bool json) {
    const std::vector<std::string> removed = collect_garbage(dry_run);
    if (json) {
        print_json({{"dry_run", dry_run}, {"removed", removed}});
        return;
    }
    if (removed.empty()) {
        std::cout << "nothing to remove\n";
        return;
    }
    for (const std::string& name : removed)
        std::cout << (dry_run ? "would remove " : "removed ") << name << '\n';
}

// ---------------------------------------------------------------------------------------------
// mem: the memory of processes, per mapping and per shared segment

struct mem_options {
    std::vector<std::string> pids;  // as typed; checked by parse_pid
    std::string root;
    std::string name;
    bool json = false;
    bool all = false;
    double watch_seconds = 0;  // 0: print once
    unsigned count = 0;        // with --watch: stop after this many reports; 0: never
};

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
    return {{"rss_kb", u.rss_kb}, {"pss_kb", u.pss_kb}, {"uss_kb", u.uss_kb},
            {"swap_kb", u.swap_kb}};
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

// The file's path when known ("/dev/shm/grid" rather than "/dev/shm/#3396 (deleted)").
std::string mapping_name(const memory_mapping& m) {
    if (!m.path.empty()) return m.path;
    return m.name.empty() ? "[ anon ]" : m.name;
}

// One process's mappings, as pmap -x prints them, with PSS and the device:inode key.
void print_mappings(const process_memory& p, bool all) {
    std::vector<table_row> rows{
        {"Address", "Kbytes", "RSS", "PSS", "Dirty", "Mode", "Dev:Inode", "Mapping"}};
    memory_mapping sum;
    std::size_t shown = 0;
    for (const memory_mapping& m : p.mappings) {
        if (!all && !m.is_shared()) continue;
        ++shown;
        sum.kbytes += m.kbytes;
        sum.rss_kb += m.rss_kb;
        sum.pss_kb += m.pss_kb;
        sum.dirty_kb += m.dirty_kb;
        rows.push_back({hex_address(m.start), std::to_string(m.kbytes), std::to_string(m.rss_kb),
                        std::to_string(m.pss_kb), std::to_string(m.dirty_kb), m.mode,
                        m.dev + " " + std::to_string(m.inode),
                        mapping_name(m)});
    }
    std::cout << "\nPID " << p.pid << " (" << p.command << "): "
              << (all ? "" : std::to_string(shown) + " shared of ") << p.mappings.size()
              << " mappings\n";
    if (shown == 0) return;
    rows.push_back({"total kB", std::to_string(sum.kbytes), std::to_string(sum.rss_kb),
                    std::to_string(sum.pss_kb), std::to_string(sum.dirty_kb)});
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

// ---------------------------------------------------------------------------------------------
// Command line

struct command_line {
    CLI::App app{"Lists, describes and removes the shmpool shared arrays in /dev/shm, and shows "
                 "what processes share (mem).",
                 "shmpool"};
    CLI::App* ls = nullptr;
    CLI::App* info = nullptr;
    CLI::App* rm = nullptr;
    CLI::App* gc = nullptr;
    CLI::App* mem = nullptr;
    mem_options mem_opts;
    bool json = false;
    bool dry_run = false;
    std::string name;
    std::vector<std::string> names;

    command_line() {
        app.set_version_flag("--version", std::string(version));
        app.footer(std::string(exit_codes_text));  // inherited by the subcommands added below
        app.require_subcommand(1);

        ls = app.add_subcommand("ls", "List every array in /dev/shm");
        ls->add_flag("--json", json, "Print JSON: {\"arrays\": [...]}");

        info = app.add_subcommand("info", "Describe one array");
        info->add_option("NAME", name, "Array name, or file path (contains '/')")->required();
        info->add_flag("--json", json, "Print one JSON object");

        rm = app.add_subcommand("rm", "Remove arrays (files that are not arrays are left alone)");
        rm->add_option("NAME", names, "Array names, or file paths (contain '/')")->required();

        gc = app.add_subcommand(
            "gc", "Remove the non-persistent arrays whose creator is no longer running");
        gc->add_flag("--dry-run", dry_run, "Only print what would be removed");
        gc->add_flag("--json", json, "Print JSON: {\"dry_run\": ..., \"removed\": [...]}");

        add_mem();
    }

    void add_mem() {
        mem = app.add_subcommand(
            "mem", "Show the memory of processes (RSS, PSS, USS, swap), per mapping as pmap -x "
                   "does and per shared segment, with the proof that a segment is held once");
        mem_options& o = mem_opts;
        CLI::Option* pids = mem->add_option("PID", o.pids, "The processes to inspect");
        CLI::Option* root =
            mem->add_option("--root", o.root, "A process and all its descendants (a pool)");
        CLI::Option* by_name = mem->add_option(
            "--name", o.name, "Every process that maps the array NAME (or file path: has '/')");
        pids->excludes(root)->excludes(by_name);
        root->excludes(by_name);
        mem->add_flag("--json", o.json,
                      "Print JSON: {\"processes\": [...], \"segments\": [...], "
                      "\"skipped\": [...]}");
        mem->add_flag("--all", o.all,
                      "List every mapping, not only the shared ones (JSON has them all)");
        CLI::Option* watch = mem->add_option("--watch", o.watch_seconds,
                                             "Print again every SECONDS until interrupted (with "
                                             "--json: one object per line)");
        watch->check(CLI::PositiveNumber);
        mem->add_option("--count", o.count, "With --watch: stop after N reports")->needs(watch);
    }

    int dispatch() {
        if (ls->parsed()) return guarded([&] { run_ls(json); });
        if (info->parsed()) return guarded([&] { run_info(name, json); });
        if (rm->parsed()) return run_rm(names);
        if (mem->parsed()) return guarded([&] { run_mem(mem_opts); });
        return guarded([&] { run_gc(dry_run, json); });
    }
};

int parse_failure(const CLI::App& app, const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const std::vector<std::string> extra = app.remaining();
    const bool unknown = app.get_subcommands().empty() && !extra.empty();
    if (unknown && extra.front().starts_with('-'))
        fail("unknown option '" + extra.front() + "'", exit_usage);
    else if (unknown)
        fail("unknown subcommand '" + extra.front() + "': use ls, info, rm, gc or mem", exit_usage);
    else
        fail(e.what(), exit_usage);
    std::cerr << "Run 'shmpool --help' for more information.\n";
    return exit_usage;
}

int run(int argc, char** argv) {
    command_line cli;
    try {
        cli.app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return parse_failure(cli.app, e);
    }
    return cli.dispatch();
}

}  // namespace
}  // namespace shmpool

int main(int argc, char** argv) {
    int code = shmpool::exit_failed;
    try {
        code = shmpool::run(argc, argv);
    } catch (const std::exception& e) {
        return shmpool::fail(e.what(), shmpool::exit_failed);
    }
    if (!std::cout.flush()) return shmpool::fail("cannot write to standard output", 1);
    return code;
}
