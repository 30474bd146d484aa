// The subcommands of the `shmpool` tool, called by main.cpp once the command line is parsed.
#pragma once

#include <string>
#include <vector>

namespace shmpool::cli {

void run_ls(bool json);
void run_info(const std::string& name, bool json);
/// Removes every NAME, going on after a failure; the exit code of the first failure.
int run_rm(const std::vector<std::string>& names);
void run_gc(bool dry_run, bool json);

/// `shmpool mem`'s options, as parsed.
struct mem_options {
    std::vector<std::string> pids;  // as typed; checked by parse_pid
    std::string root;
    std::string name;
    bool json = false;
    bool all = false;
    double watch_seconds = 0;  // 0: print once
    unsigned count = 0;        // with --watch: stop after this many reports; 0: never
};
void run_mem(const mem_options& o);

/// `shmpool doctor`: checks this machine for shmpool; exit_failed when a problem was found.
int run_doctor(bool json);

}  // namespace shmpool::cli
