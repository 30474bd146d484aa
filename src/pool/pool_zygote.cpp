// A pool's zygote: forked from the parent while it has one thread, it forks the workers (and
// replaces dead ones) on request, reaps them and records how they died; when the parent closes
// its request pipe (or dies), it kills and reaps the workers and exits.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>

#include "os.hpp"
#include "pool_control.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool::detail {
namespace {

void record_death(control_block& c, pid_t pid, int status) {
    for (worker_slot& s : c.slots) {
        if (s.pid.load(std::memory_order_acquire) != pid) continue;
        s.wait_status.store(status, std::memory_order_relaxed);
        s.state.store(slot_state::dead, std::memory_order_release);
        notify_events(c);
        return;
    }
}

[[noreturn]] void stop_workers_and_exit(control_block& c) {
    for (worker_slot& s : c.slots)
        if (pid_t pid = s.pid.load(); pid > 0 && s.state.load() != slot_state::dead)
            send_signal(pid, SIGKILL);
    reap_all_children();
    ::_exit(0);
}

// Forks the worker of slot `index`; records a failed fork as a dead worker.
void start_worker(control_block& c, std::uint32_t index, file_descriptor& requests,
                  child_exits& children) {
    const pid_t zygote = current_pid();
    pid_t pid = -1;
    try {
        pid = fork_process("a pool worker");
    } catch (...) {
    }
    if (pid == 0) {
        requests = file_descriptor();
        children.close();
        worker_main(c, index, zygote);
    }
    if (pid < 0) {
        c.slots[index].state.store(slot_state::dead, std::memory_order_release);
        notify_events(c);
    } else {
        c.slots[index].pid.store(pid, std::memory_order_release);
    }
}

}  // namespace

void zygote_main(control_block& c, int request_fd, pid_t parent) {
    if (!die_with_parent(parent)) ::_exit(1);
    ignore_signal(SIGINT);  // a terminal's Ctrl-C is the parent's to handle
    set_signal_default(SIGTERM);
    file_descriptor requests(request_fd);
    std::optional<child_exits> children;
    try {
        children.emplace();
    } catch (...) {
        ::_exit(2);
    }
    c.zygote_pid.store(current_pid(), std::memory_order_release);
    unmap_all_segments();  // workers attach by name; the parent's arrays must not outlive it here

    for (;;) {
        const int fds[2] = {requests.get(), children->fd()};
        bool ready[2] = {false, false};
        wait_readable(fds, ready, 2, -1);
        if (ready[1]) {
            children->drain();
            int status = 0;
            pid_t pid;
            while ((pid = try_reap(-1, status)) > 0) record_death(c, pid, status);
        }
        if (ready[0]) {
            std::uint32_t index = 0;
            const long n = read_some(requests.get(), &index, sizeof index);
            if (n == 0 || (n < 0 && errno != EAGAIN)) stop_workers_and_exit(c);
            if (n != sizeof index || index >= max_workers) continue;
            start_worker(c, index, requests, *children);
        }
    }
}

}  // namespace shmpool::detail
