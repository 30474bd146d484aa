// Helpers shared by the tests of memory inspection (tests/test_memory*.cpp): a "family", a
// parent process and its children, all mapping one shared array they have touched in full,
// stopped at a barrier (they block reading a pipe) while the test reads them; and user nobody.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "shmpool/error.hpp"
#include "shmpool/process.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool::test {

constexpr uid_t nobody = 65534;

/// Drops every privilege: the process becomes user nobody.
inline bool become_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setgid(nobody) == 0 && ::setuid(nobody) == 0;
}

/// |a - b|.
inline std::uint64_t distance(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : b - a; }

// ---------------------------------------------------------------------------------------------
// A family: a parent and its children mapping one array, stopped at a barrier.

// Reads every page of [data, data + bytes): each one is then in this process's page tables.
inline void touch_pages(const std::uint8_t* data, std::size_t bytes) {
    volatile std::uint8_t sink = 0;
    for (std::size_t i = 0; i < bytes; i += 4096) sink = sink + data[i];
}

// Blocks until the write end of the barrier is closed.
inline void wait_at_barrier(int fd) {
    char c;
    while (::read(fd, &c, 1) != 0 && errno == EINTR) {
    }
}

// The parent's life: creates the array, fills it, forks the children, reports every PID, waits
// at the barrier, reaps the children and removes the array.
inline int run_family_parent(const std::string& name, std::size_t bytes, int children, int report,
                             int barrier) {
    ::alarm(300);
    auto a = shared_array<std::uint8_t>::create(name, {bytes}, {.populate = false});
    std::memset(a.data(), 1, bytes);
    std::vector<pid_t> kids;
    for (int i = 0; i < children; ++i) {
        const pid_t kid = ::fork();
        if (kid == 0) {
            ::alarm(300);
            touch_pages(a.data(), bytes);
            const pid_t me = ::getpid();
            if (!write_all(report, &me, sizeof me)) ::_exit(2);
            wait_at_barrier(barrier);
            ::_exit(0);
        }
        if (kid < 0) return 3;
        kids.push_back(kid);
    }
    const pid_t me = ::getpid();
    if (!write_all(report, &me, sizeof me)) return 4;
    wait_at_barrier(barrier);
    for (pid_t kid : kids) ::waitpid(kid, nullptr, 0);
    shared_array<std::uint8_t>::remove(name);
    return 0;
}

/// A parent process (the leader of a new process group) and `children` children of it, all
/// mapping the array `name` of `bytes` bytes they have touched in full, stopped at a barrier
/// until the family is destroyed; this process is their subreaper meanwhile.
class family {
public:
    family(const std::string& name, std::size_t bytes, int children) {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphans of a killed parent come back here
        int report[2], barrier[2];
        if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(barrier, O_CLOEXEC) != 0) return;
        std::fflush(nullptr);
        parent_ = ::fork();
        if (parent_ == 0) {
            ::setpgid(0, 0);
            ::close(report[0]);
            ::close(barrier[1]);
            int rc = 100;
            try {
                rc = run_family_parent(name, bytes, children, report[1], barrier[0]);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "family parent: %s\n", e.what());
            }
            ::_exit(rc);
        }
        if (parent_ > 0) ::setpgid(parent_, parent_);
        ::close(report[1]);
        ::close(barrier[0]);
        barrier_ = barrier[1];
        read_pids(report[0], children + 1);
        ::close(report[0]);
    }

    ~family() {
        if (barrier_ >= 0) ::close(barrier_);  // EOF at the barrier: everyone leaves
        if (parent_ > 0) stop();
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }

    family(const family&) = delete;
    family& operator=(const family&) = delete;

    bool ready() const { return parent_ > 0 && pids_.size() == expected_; }
    pid_t parent() const { return parent_; }
    /// Every PID, ascending.
    const std::vector<pid_t>& pids() const { return pids_; }

private:
    void read_pids(int fd, int count) {
        expected_ = static_cast<std::size_t>(count);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (pids_.size() < expected_ && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0) continue;
            pid_t pid = 0;
            if (::read(fd, &pid, sizeof pid) != static_cast<ssize_t>(sizeof pid)) break;
            pids_.push_back(pid);
        }
        std::sort(pids_.begin(), pids_.end());
    }

    // Waits for the parent to leave; kills the whole family after 30 s; reaps everyone.
    void stop() {
        try {
            reap_child(parent_, std::chrono::seconds(30));  // SIGKILLed after the 30 s
        } catch (const system_error&) {
            // not a child of this process (any more): nothing to wait for
        }
        ::kill(-parent_, SIGKILL);  // children left behind, if the parent died early
        while (::waitpid(-parent_, nullptr, 0) > 0) {
        }
    }

    pid_t parent_ = -1;
    int barrier_ = -1;
    std::size_t expected_ = 0;
    std::vector<pid_t> pids_;
};

}  // namespace shmpool::test
