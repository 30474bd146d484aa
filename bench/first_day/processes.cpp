// bench/first_day: the processes of a measurement. Forked children (they share the parent's
// mappings), copies of this program started with posix_spawn (unrelated processes: they open
// what they use by name), the gate of the control block that lets a lock run's processes go
// together, and the reaping of all of them: none is left behind, even on an error.
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <shmpool/process.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "first_day.hpp"

extern char** environ;

namespace first_day {
namespace {

// A child that ended before the gate opened, if any: reaped here and taken out of `pids`.
std::string ended_early(std::vector<pid_t>& pids) {
    for (auto it = pids.begin(); it != pids.end(); ++it) {
        int status = 0;
        if (::waitpid(*it, &status, WNOHANG) != *it) continue;
        const std::string what = "process " + std::to_string(*it) + " ended before the start";
        pids.erase(it);
        return what;
    }
    return {};
}

// Waits until `n` processes wait at the gate; throws if one ended meanwhile or after 30 s.
void wait_until_ready(control& c, int n, std::vector<pid_t>& pids) {
    const auto waiting = clock_type::now();
    while (c.ready.load() < n) {
        if (const std::string e = ended_early(pids); !e.empty()) throw std::runtime_error(e);
        if (seconds_since(waiting) > 30) throw std::runtime_error("processes did not start");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

// Starts `n` processes with launch(i) and waits until all wait at the gate. If something fails
// before, lets them go (they see the stop flag raised), reaps them and throws.
std::vector<pid_t> start_at_gate(control& c, int n, const std::function<pid_t(int)>& launch) {
    std::vector<pid_t> pids;
    try {
        for (int i = 0; i < n; ++i) pids.push_back(launch(i));
        wait_until_ready(c, n, pids);
    } catch (...) {
        c.stop.set();
        c.start.set();
        try {
            reap_all(pids, "a lock run");
        } catch (const std::exception&) {
        }
        throw;
    }
    return pids;
}

}  // namespace

pid_t spawn_self(const std::string& self, const std::vector<std::string>& args) {
    std::vector<std::string> all{self};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::fflush(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ);
    if (rc != 0) throw std::runtime_error("posix_spawn " + self + ": " + std::strerror(rc));
    return pid;
}

void reap_all(const std::vector<pid_t>& pids, const char* what) {
    std::string failed;
    for (pid_t pid : pids) {
        const shmpool::exit_status st = shmpool::reap_child(pid, std::chrono::seconds(60));
        if (!st.ok() && failed.empty())
            failed = std::string(what) + ": process " + std::to_string(pid) + " " + st.describe();
    }
    if (!failed.empty()) throw std::runtime_error(failed);
}

double pairs_per_second(control& c, int n, double seconds,
                        const std::function<pid_t(int)>& launch) {
    renew(c);
    const std::vector<pid_t> pids = start_at_gate(c, n, launch);
    const auto opened = clock_type::now();
    c.start.set();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    c.stop.set();
    const double elapsed = seconds_since(opened);
    reap_all(pids, "a lock run");
    long total = 0;
    for (int i = 0; i < n; ++i) total += c.done[i].pairs.load();
    return double(total) / elapsed;
}

void die_with_parent(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::exit(1);
}

}  // namespace first_day
