// Helpers for the tests of the synchronisation primitives (robust_mutex, shared_rwlock,
// semaphore, barrier, event): an object in an anonymous shared mapping made before fork(), one
// in a named shmpool segment, groups of concurrent children with time limits, stopwatches.
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "shmpool/process.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool::test {

using namespace std::chrono_literals;

/// A T constructed in an anonymous MAP_SHARED mapping: children forked afterwards share it.
/// Destroyed and unmapped with the handle (children leave with _exit, so never there).
template <class T>
class shared_object {
public:
    template <class... Args>
    explicit shared_object(Args&&... args) {
        void* p =
            ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap of a shared test object failed");
        object_ = new (p) T(std::forward<Args>(args)...);
    }
    ~shared_object() {
        object_->~T();
        ::munmap(object_, sizeof(T));
    }
    shared_object(const shared_object&) = delete;
    shared_object& operator=(const shared_object&) = delete;

    T& operator*() const noexcept { return *object_; }
    T* operator->() const noexcept { return object_; }

private:
    T* object_ = nullptr;
};

/// A T placement-constructed in the bytes of a named shmpool segment (the named case):
/// another process finds it with attach(name). Removes the segment when destroyed.
template <class T>
class named_object {
public:
    template <class... Args>
    explicit named_object(const std::string& name, Args&&... args)
        : bytes_(shared_array<std::uint8_t>::create(name, {sizeof(T)})) {
        object_ = new (bytes_.data()) T(std::forward<Args>(args)...);
    }
    ~named_object() {
        object_->~T();
        try {
            shared_array<std::uint8_t>::remove(std::string(bytes_.name()));
        } catch (const std::exception&) {
        }
    }
    named_object(const named_object&) = delete;
    named_object& operator=(const named_object&) = delete;

    T& operator*() const noexcept { return *object_; }
    T* operator->() const noexcept { return object_; }

    /// The object made by another process in segment `name`: open the segment by name and
    /// reinterpret its bytes (no pointer lives in the object, so any address works). `keep`
    /// holds the mapping.
    static T& attach(const std::string& name, shared_array<std::uint8_t>& keep) {
        keep = shared_array<std::uint8_t>::open(name);
        return *std::launder(reinterpret_cast<T*>(keep.data()));
    }

private:
    shared_array<std::uint8_t> bytes_;
    T* object_ = nullptr;
};

/// Children forked by this process; the ones still there when it is destroyed are killed
/// and reaped, so no test leaves a process behind.
class child_group {
public:
    child_group() = default;
    child_group(const child_group&) = delete;
    child_group& operator=(const child_group&) = delete;
    ~child_group() {
        for (const auto& [pid, status] : live_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }

    /// Forks a child that runs `body` and leaves with _exit(its result), 101 if it throws.
    /// A child still running after `limit` dies of SIGALRM.
    pid_t spawn(const std::function<int()>& body, std::chrono::seconds limit = 20s) {
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) run_child_body(body, static_cast<unsigned>(limit.count()));
        live_[pid] = 0;
        return pid;
    }

    /// Waits at most `timeout` for child `pid`. Returns its exit code, 128 + signal if a signal
    /// killed it, or -1 if it was still running (it is then killed).
    int wait(pid_t pid, std::chrono::milliseconds timeout = 20s) {
        live_.erase(pid);  // reap_child leaves no zombie (or throws: `pid` is not our child)
        const exit_status st = reap_child(pid, timeout);
        return st.timed_out ? -1 : st.shell_code();
    }

    /// Waits for every child, all within `timeout`; returns whether all exited with 0.
    bool all_succeed(std::chrono::milliseconds timeout = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        bool ok = true;
        while (!live_.empty()) {
            const pid_t pid = live_.begin()->first;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            const int rc = wait(pid, std::max(left, std::chrono::milliseconds(1)));
            if (rc != 0) {
                ADD_FAILURE() << "child " << pid << " ended with " << rc;
                ok = false;
            }
        }
        return ok;
    }

    /// SIGKILLs child `pid` and, with `reap`, reaps it (else it stays a zombie until wait()).
    void kill(pid_t pid, bool reap = true) {
        ::kill(pid, SIGKILL);
        if (reap) wait(pid);
    }

private:
    std::map<pid_t, int> live_;
};

/// Polls `done` until it returns true or `timeout` passes; returns done().
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return done();
        std::this_thread::sleep_for(200us);
    }
    return true;
}

/// Time since `start` on the steady clock.
inline std::chrono::steady_clock::duration since(std::chrono::steady_clock::time_point start) {
    return std::chrono::steady_clock::now() - start;
}

}  // namespace shmpool::test
