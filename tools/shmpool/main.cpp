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
//   shmpool doctor [--json]         checks this machine for shmpool (the shm directory, huge
//                                   pages, memory, kernel features, what mem may read, arrays
//                                   left behind); exit 1 when it found a problem
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

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"

namespace shmpool::cli {
namespace {

#ifdef SHMPOOL_VERSION
constexpr std::string_view version = SHMPOOL_VERSION;  // the build may pass PROJECT_VERSION
#else
constexpr std::string_view version = "0.1.0";
#endif

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

struct command_line {
    CLI::App app{
        "Lists, describes and removes the shmpool shared arrays in /dev/shm, and shows "
        "what processes share (mem).",
        "shmpool"};
    CLI::App* ls = nullptr;
    CLI::App* info = nullptr;
    CLI::App* rm = nullptr;
    CLI::App* gc = nullptr;
    CLI::App* mem = nullptr;
    CLI::App* doctor = nullptr;
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

        doctor = app.add_subcommand(
            "doctor",
            "Check this machine for shmpool: the shm directory (tmpfs, size, huge pages), "
            "memory, the kernel features shmpool uses, what `mem` may read, arrays left behind "
            "by processes that died. Exit code 1 when a problem was found");
        doctor->add_flag("--json", json,
                         "Print JSON: {\"checks\": [{\"name\", \"verdict\", \"detail\", "
                         "\"fix\"}], ...}");
    }

    void add_mem() {
        mem = app.add_subcommand(
            "mem",
            "Show the memory of processes (RSS, PSS, USS, swap), per mapping as pmap -x "
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
        watch->check(CLI::Validator(
            [](const std::string& text) -> std::string {
                char* end = nullptr;
                const double seconds = std::strtod(text.c_str(), &end);
                if (text.empty() || end != text.c_str() + text.size())
                    return "SECONDS must be a number of seconds, not '" + text + "'";
                return seconds > 0 ? "" : "SECONDS must be greater than 0 (got " + text + ")";
            },
            "SECONDS"));
        mem->add_option("--count", o.count, "With --watch: stop after N reports")->needs(watch);
    }

    int dispatch() {
        if (ls->parsed()) return guarded([&] { run_ls(json); });
        if (info->parsed()) return guarded([&] { run_info(name, json); });
        if (rm->parsed()) return run_rm(names);
        if (mem->parsed()) return guarded([&] { run_mem(mem_opts); });
        if (doctor->parsed()) {
            int code = exit_ok;
            const int failed = guarded([&] { code = run_doctor(json); });
            return failed != exit_ok ? failed : code;
        }
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
        fail("unknown subcommand '" + extra.front() + "': use ls, info, rm, gc, mem or doctor",
             exit_usage);
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
}  // namespace shmpool::cli

int main(int argc, char** argv) {
    int code = shmpool::cli::exit_failed;
    try {
        code = shmpool::cli::run(argc, argv);
    } catch (const std::exception& e) {
        return shmpool::cli::fail(e.what(), shmpool::cli::exit_failed);
    }
    if (!std::cout.flush()) return shmpool::cli::fail("cannot write to standard output", 1);
    return code;
}
