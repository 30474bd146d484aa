// Helpers shared by the tests of shmpool::process_pool (tests/test_process_pool_*.cpp): a
// shared counter array and the "every index ran exactly once" check, waiting for processes that
// are or are not our children, a subreaper for stand-in parents, pipes of PIDs, and crashes
// without core files.
//
// Run directly, a test binary runs all its tests in one process, so a test that starts a thread
// (OpenMP, std::thread) does so inside test::run_in_child: a pool constructor refuses to start
// in a multi-threaded process, and later tests construct pools.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shmpool/process.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool::test {

using clock_type = std::chrono::steady_clock;

/// A shared int32 counter array [0, n), removed at the end of the scope.
struct counter_array {
    std::string name = unique_name("count");
    shm_guard guard{name};
    shared_array<std::int32_t> array;

    explicit counter_array(std::size_t n) { array = shared_array<std::int32_t>::create(name, {n}); }
    ~counter_array() {
        try {
            shared_array<std::int32_t>::remove(name);
        } catch (...) {
        }
    }
    void zero() const { array.view().fill(0); }
    std::int32_t operator[](std::size_t i) const { return array.data()[i]; }
};

/// Checks that fn(i) ran exactly once for i in [first, last) and never outside it.
inline void expect_exactly_once(process_pool& pool, std::size_t first, std::size_t last,
                                const call_options& opts, std::size_t array_size) {
    counter_array count(array_size);
    const shared_array<std::int32_t> c = count.array;
    const call_result r = pool.for_each(
        first, last, [c](std::size_t i) { c.view()(i) += 1; }, opts);
    EXPECT_EQ(r.completed, last > first ? last - first : 0);
    EXPECT_FALSE(r.cancelled);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < array_size; ++i) {
        const std::int32_t expected = (i >= first && i < last) ? 1 : 0;
        if (count[i] != expected && ++wrong <= 5)
            ADD_FAILURE() << "index " << i << " ran " << count[i] << " times, expected "
                          << expected;
    }
    EXPECT_EQ(wrong, 0u);
}

/// "dynamic chunk 7": a schedule, for SCOPED_TRACE.
inline std::string describe(const call_options& o) {
    std::ostringstream s;
    s << (o.kind == schedule::dynamic ? "dynamic" : "static") << " chunk " << o.chunk;
    return s.str();
}

/// waitpid(pid) with a deadline; SIGKILLs and reaps it on expiry. Returns the status, or -1
/// when it had to be killed. Throws system_error when `pid` is not a child of this process.
inline int wait_with_deadline(pid_t pid, std::chrono::milliseconds limit,
                              bool* timed_out = nullptr) {
    const exit_status st = reap_child(pid, limit);
    if (timed_out) *timed_out = st.timed_out;
    return st.timed_out ? -1 : st.raw;
}

/// The state letter of /proc/PID/stat, or 0 when the process does not exist.
inline char proc_state(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!f || !std::getline(f, text)) return 0;
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) return 0;
    return text[close + 2];
}

/// Whether `pid` has exited: reaped here (if it is, or became, our child), gone, or a zombie.
inline bool has_exited(pid_t pid) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r == 0) return false;  // our child, still running
    const char st = proc_state(pid);
    return st == 0 || st == 'Z' || st == 'X';
}

/// Polls until every pid has exited or `limit` passes; returns the ones still running.
inline std::vector<int> wait_for_exit(const std::vector<int>& pids,
                                      std::chrono::milliseconds limit) {
    using namespace std::chrono_literals;
    const auto deadline = clock_type::now() + limit;
    std::vector<int> running = pids;
    for (;;) {
        std::erase_if(running, [](int p) { return has_exited(p); });
        if (running.empty() || clock_type::now() > deadline) return running;
        std::this_thread::sleep_for(5ms);
    }
}

/// Makes this process a child subreaper for the scope, so that a stand-in parent's orphaned
/// processes come to it; on exit, kills what is left of `strays` and reaps every child.
struct subreaper_scope {
    std::vector<int> strays;
    subreaper_scope() { EXPECT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
    ~subreaper_scope() {
        using namespace std::chrono_literals;
        for (int p : strays)
            if (!has_exited(p)) ::kill(p, SIGKILL);
        const auto deadline = clock_type::now() + 3s;
        for (;;) {  // reap until no child is left (ECHILD) or the deadline
            const pid_t r = ::waitpid(-1, nullptr, WNOHANG);
            if (r < 0 && errno != EINTR) break;
            if (r > 0) continue;
            if (clock_type::now() > deadline) break;
            std::this_thread::sleep_for(2ms);
        }
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
    subreaper_scope(const subreaper_scope&) = delete;
    subreaper_scope& operator=(const subreaper_scope&) = delete;
};

/// Reads `count` ints from `fd` within `limit`; fewer if the writer closed or time ran out.
inline std::vector<int> read_pids(int fd, std::size_t count, std::chrono::milliseconds limit) {
    std::vector<int> pids;
    std::string bytes;
    const auto deadline = clock_type::now() + limit;
    while (bytes.size() < count * sizeof(int)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        char buf[256];
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        bytes.append(buf, static_cast<std::size_t>(got));
    }
    for (std::size_t at = 0; at + sizeof(int) <= bytes.size(); at += sizeof(int)) {
        int v;
        std::memcpy(&v, bytes.data() + at, sizeof v);
        pids.push_back(v);
    }
    return pids;
}

/// The whole content of a file ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

/// Runs a test's `body` in a child (test::run_in_child) with a time limit: for tests that start
/// threads (submit(), the streams), after which a pool refuses to start in the process. The
/// child's failures are printed there; the test fails if it had any, or timed out.
inline void run_test_in_child(const std::function<void()>& body,
                              std::chrono::seconds limit = std::chrono::seconds(60)) {
    const int rc = run_in_child(
        [&] {
            body();
            return ::testing::Test::HasFailure() ? 1 : 0;
        },
        limit);
    EXPECT_EQ(rc, 0) << "the child failed (its messages are above); -1: timed out";
}

/// Makes a worker that is about to crash leave no core file behind.
inline void no_core_dump() {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0);
}

}  // namespace shmpool::test
