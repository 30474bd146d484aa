// shmpool: the command-line tool. Lists, describes and removes the shared arrays in /dev/shm,
// and removes those left behind by processes that died.
//
//   shmpool ls [--json]             every array in /dev/shm
//   shmpool info NAME [--json]      one array in detail (NAME may be a file path: contains '/')
//   shmpool rm NAME...              remove arrays (files that are not arrays are left alone)
//   shmpool gc [--dry-run] [--json] remove non-persistent arrays whose creator died
//
// Exit codes:
//   0  success
//   1  an operation failed (I/O error, permission denied...)
//   2  usage error: bad arguments, unknown subcommand, unusable array name
//   3  not found: NAME does not exist
//   4  not an array: NAME is a file that is not a valid array (another program's segment...)
// `rm` goes on after a failure and exits with the code of the first one that failed.
// Errors go to stderr as "shmpool: <message>".
//
// The directory is /dev/shm unless the environment variable SHMPOOL_SHM_DIR names another one.

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/catalog.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
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
    "  3  not found: NAME does not exist\n"
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

// Adds how to find the existing arrays, unless the message already says it or names a file path.
std::string with_ls_hint(std::string message) {
    const auto holds = [&](std::string_view s) { return message.find(s) != std::string::npos; };
    if (!holds("shmpool ls") && !holds("array file"))
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
// A plain text table: left-aligned columns two spaces apart, no trailing blanks.

using table_row = std::vector<std::string>;

void print_table(const std::vector<table_row>& rows) {
    std::vector<std::size_t> widths;
    for (const table_row& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    }
    for (const table_row& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c > 0) line += "  ";
            line += row[c];
            if (c + 1 < row.size()) line.append(widths[c] - row[c].size(), ' ');
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
// Command line

struct command_line {
    CLI::App app{"Lists, describes and removes the shmpool shared arrays in /dev/shm.", "shmpool"};
    CLI::App* ls = nullptr;
    CLI::App* info = nullptr;
    CLI::App* rm = nullptr;
    CLI::App* gc = nullptr;
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
    }

    int dispatch() {
        if (ls->parsed()) return guarded([&] { run_ls(json); });
        if (info->parsed()) return guarded([&] { run_info(name, json); });
        if (rm->parsed()) return run_rm(names);
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
        fail("unknown subcommand '" + extra.front() + "': use ls, info, rm or gc", exit_usage);
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
