// shmpool::reap_child: waiting for a child process with a deadline, never leaving a zombie.
//
// @code
// const pid_t pid = ::fork();
// if (pid == 0) { do_work(); ::_exit(0); }
// const shmpool::exit_status st = shmpool::reap_child(pid, std::chrono::seconds(5));
// if (st.timed_out) std::puts("the child hung: it was killed");
// else if (st.code != 0) std::printf("the child failed: %s\n", st.describe().c_str());
// @endcode
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "shmpool/detail/export.hpp"

namespace shmpool {

/// How a child process ended, from its waitpid(2) status.
struct SHMPOOL_API exit_status {
    pid_t pid = 0;
    int code = -1;           ///< its exit code when it exited, else -1
    int signal = 0;          ///< the signal that ended it, else 0
    bool timed_out = false;  ///< it still ran at the deadline: reap_child SIGKILLed it
    int raw = 0;             ///< the status as waitpid returned it

    /// Exited with code 0.
    bool ok() const noexcept { return code == 0; }
    /// The shell's convention: the exit code, or 128 + the signal number.
    int shell_code() const noexcept { return signal != 0 ? 128 + signal : code; }
    /// "exited with code 3", "killed by SIGKILL (Killed)", "... after the deadline".
    std::string describe() const;
};

/// Waits until child `pid` ends, at most `timeout`; a child still running then is killed with
/// SIGKILL and reaped (exit_status::timed_out). Never returns with the child a zombie; signals
/// that interrupt the wait are handled. Throws system_error when `pid` is not a child of this
/// process (ECHILD) or waitpid fails otherwise.
/// Threads: safe. Fork: safe (it concerns this process's children only).
SHMPOOL_API exit_status reap_child(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace shmpool
