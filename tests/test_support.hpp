// Helpers shared by the test files: unique segment names, cleanup guards, child processes with
// timeouts (on top of shmpool::reap_child), and a check that the suite leaves /dev/shm as it
// found it.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <string>

#include "shmpool/process.hpp"

namespace shmpool::test {

/// A name no other test (or concurrent test run) uses: shmpool_test_<pid>_<n>_<tag>.
inline std::string unique_name(const std::string& tag) {
    static std::atomic<int> counter{0};
    return "shmpool_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
           tag;
}

/// Unlinks a file on scope exit, whatever happened.
struct unlink_guard {
    std::string path;
    explicit unlink_guard(std::string p) : path(std::move(p)) {}
    ~unlink_guard() { ::unlink(path.c_str()); }
    unlink_guard(const unlink_guard&) = delete;
    unlink_guard& operator=(const unlink_guard&) = delete;
};

/// Unlinks /dev/shm/NAME on scope exit.
struct shm_guard : unlink_guard {
    explicit shm_guard(const std::string& name) : unlink_guard("/dev/shm/" + name) {}
};

inline bool shm_exists(const std::string& name) {
    return ::access(("/dev/shm/" + name).c_str(), F_OK) == 0;
}

/// In a forked child: runs `body` and leaves with _exit(its result), 101 if it throws (the
/// message on stderr). A child still running after `limit_seconds` dies of SIGALRM.
[[noreturn]] inline void run_child_body(const std::function<int()>& body, unsigned limit_seconds) {
    ::alarm(limit_seconds);
    int rc = 100;
    try {
        rc = body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "child threw: %s\n", e.what());
        rc = 101;
    }
    ::_exit(rc);
}

/// Runs `body` in a forked child that ends with _exit(body's return value). The parent waits
/// at most `timeout`; a child still running then is killed and the result is -1.
/// Returns the exit status, or 128 + signal when the child died of a signal (-2: fork failed).
inline int run_in_child(const std::function<int()>& body,
                        std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return -2;
    if (pid == 0) run_child_body(body, static_cast<unsigned>(timeout.count()) + 5);
    const exit_status st = reap_child(pid, timeout);
    return st.timed_out ? -1 : st.shell_code();
}

/// Runs `body` in a forked child (as run_in_child does), SIGKILLs it after `delay` (it may
/// have finished by then) and reaps it: a process killed at a moment chosen by the caller.
inline void run_and_kill_child(const std::function<int()>& body, std::chrono::microseconds delay) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) run_child_body(body, 60);
    ::usleep(static_cast<useconds_t>(delay.count()));
    ::kill(pid, SIGKILL);
    reap_child(pid, std::chrono::seconds(30));
}

/// Writes all of `size` bytes to `fd`, resuming after short writes and EINTR; false when a
/// write fails.
inline bool write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Runs a shell command with a time limit; returns its exit status and fills `out` with stdout.
inline int run_command(const std::string& command, std::string* out = nullptr,
                       int timeout_seconds = 60) {
    const std::string full = "timeout -k 5 " + std::to_string(timeout_seconds) + " " + command;
    FILE* p = ::popen(full.c_str(), "r");
    if (!p) return -1;
    std::array<char, 4096> buf;
    std::string text;
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) text.append(buf.data(), n);
    const int status = ::pclose(p);
    if (out) *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// The entries of /dev/shm.
inline std::set<std::string> shm_listing() {
    std::set<std::string> names;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (const dirent* e = ::readdir(d)) names.insert(e->d_name);
        ::closedir(d);
    }
    return names;
}

/// Fails the run when a test program leaves anything of its own in /dev/shm.
class shm_leak_check : public ::testing::Environment {
public:
    void SetUp() override { before_ = shm_listing(); }
    void TearDown() override {
        const std::string mine = "shmpool_test_" + std::to_string(::getpid()) + "_";
        for (const std::string& n : shm_listing()) {
            if (!before_.count(n) && n.rfind(mine, 0) == 0) {
                ADD_FAILURE() << "left in /dev/shm: " << n;
                ::unlink(("/dev/shm/" + n).c_str());
            }
        }
    }

private:
    std::set<std::string> before_;
};

inline const auto* const registered_shm_leak_check =
    ::testing::AddGlobalTestEnvironment(new shm_leak_check);

}  // namespace shmpool::test
