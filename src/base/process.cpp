// shmpool::reap_child, the public face of the OS seam's reap_with_deadline.
#include "shmpool/process.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "os.hpp"
#include "shmpool/error.hpp"

namespace shmpool {

std::string exit_status::describe() const {
    std::string s = signal != 0 ? "killed by " + detail::signal_text(signal)
                                : "exited with code " + std::to_string(code);
    if (timed_out) s += " after the deadline";
    return s;
}

exit_status reap_child(pid_t pid, std::chrono::milliseconds timeout) {
    bool killed = false;
    const int status = detail::reap_with_deadline(pid, detail::deadline_after(timeout), &killed);
    if (status < 0)
        throw system_error(std::error_code(ECHILD, std::generic_category()),
                           "cannot wait for process " + std::to_string(pid) +
                               ": it is not a child of this process (or was reaped already)");
    exit_status s;
    s.pid = pid;
    s.raw = status;
    s.timed_out = killed;
    if (WIFEXITED(status)) s.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
    return s;
}

}  // namespace shmpool
