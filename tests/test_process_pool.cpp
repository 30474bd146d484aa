// Tests of shmpool::process_pool: every index runs once, workers persist, task failures and worker
// deaths are reported, the workers never outlive their parent, signals clean up, cancellation,
// the fork/threads check, OpenMP inside tasks, the progress line, and bad arguments.
//
// Run directly, this binary runs every test in one process, so anything that starts a thread
// (OpenMP, std::thread) runs inside test::run_in_child: a pool constructor refuses to start in a
// multi-threaded process, and later tests construct pools.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "os.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

// call_options{.chunk = 10} warns under -Wextra (missing initializer for call_options::rows,
// which has no default member initializer); tests/compile_fail/options_designated.cpp checks
// that separately, so that this file tests behaviour whatever the state of that warning.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

// SIGINT and SIGTERM must reach the pool's handlers in the signal tests: a test process started
// with them ignored (a background job of a non-interactive shell) would otherwise hang there.
const bool signals_restored = [] {
    for (int sig : {SIGINT, SIGTERM}) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_IGN)
            ::signal(sig, SIG_DFL);
    }
    return true;
}();

// --- helpers ---------------------------------------------------------------------------------

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
void expect_exactly_once(process_pool& pool, std::size_t first, std::size_t last,
                         const call_options& opts, std::size_t array_size) {
    counter_array count(array_size);
    const shared_array<std::int32_t> c = count.array;
    const call_result r = pool.for_each(first, last, [c](std::size_t i) { c.view()(i) += 1; }, opts);
    EXPECT_EQ(r.completed, last > first ? last - first : 0);
    EXPECT_FALSE(r.cancelled);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < array_size; ++i) {
        const std::int32_t expected = (i >= first && i < last) ? 1 : 0;
        if (count[i] != expected && ++wrong <= 5)
            ADD_FAILURE() << "index " << i << " ran " << count[i] << " times, expected " << expected;
    }
    EXPECT_EQ(wrong, 0u);
}

std::string describe(const call_options& o) {
    std::ostringstream s;
    s << (o.kind == schedule::dynamic ? "dynamic" : "static") << " chunk " << o.chunk;
    return s.str();
}

/// waitpid(pid) with a deadline; SIGKILLs and reaps it on expiry. Returns the status, or -1
/// when it had to be killed.
int wait_with_deadline(pid_t pid, std::chrono::milliseconds limit, bool* timed_out = nullptr) {
    const auto deadline = clock_type::now() + limit;
    int status = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -1;
        if (clock_type::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            if (timed_out) *timed_out = true;
            return -1;
        }
        std::this_thread::sleep_for(2ms);
    }
    if (timed_out) *timed_out = false;
    return status;
}

/// The state letter of /proc/PID/stat, or 0 when the process does not exist.
char proc_state(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!f || !std::getline(f, text)) return 0;
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos || close + 2 >= text.size()) return 0;
    return text[close + 2];
}

/// Whether `pid` has exited: reaped here (if it is, or became, our child), gone, or a zombie.
bool has_exited(pid_t pid) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r == 0) return false;  // our child, still running
    const char st = proc_state(pid);
    return st == 0 || st == 'Z' || st == 'X';
}

/// Polls until every pid has exited or `limit` passes; returns the ones still running.
std::vector<int> wait_for_exit(const std::vector<int>& pids, std::chrono::milliseconds limit) {
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
};

/// Reads `count` ints from `fd` within `limit`; fewer if the writer closed or time ran out.
std::vector<int> read_pids(int fd, std::size_t count, std::chrono::milliseconds limit) {
    std::vector<int> pids;
    std::string bytes;
    const auto deadline = clock_type::now() + limit;
    while (bytes.size() < count * sizeof(int)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - clock_type::now());
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

void write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

/// Makes a worker that is about to crash leave no core file behind.
void no_core_dump() {
    rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0);
}

// --- 1. every index exactly once ---------------------------------------------------------

TEST(process_pool, for_each_runs_every_index_exactly_once) {
    process_pool pool(3);
    const std::vector<call_options> schedules = {
        {.kind = schedule::dynamic},
        {.kind = schedule::dynamic, .chunk = 1},
        {.kind = schedule::dynamic, .chunk = 7},
        {.kind = schedule::static_},
        {.kind = schedule::static_, .chunk = 7},
    };
    struct range {
        std::size_t first, last;
    };
    const std::vector<range> ranges = {
        {0, 1000},  // the common case
        {37, 1000}, // first > 0
        {0, 2},     // fewer indices than workers
        {10, 11},   // a single index, not at 0
        {5, 7},     // two indices, not at 0
        {0, 3},     // as many as the workers
        {0, 4},     // one more
    };
    for (const call_options& o : schedules) {
        for (const range& r : ranges) {
            SCOPED_TRACE(describe(o) + " [" + std::to_string(r.first) + ", " +
                         std::to_string(r.last) + ")");
            expect_exactly_once(pool, r.first, r.last, o, r.last + 5);
        }
    }
}

TEST(process_pool, an_empty_range_runs_nothing_and_completes_zero) {
    process_pool pool(2);
    for (const call_options& o : {call_options{.kind = schedule::dynamic},
                                  call_options{.kind = schedule::static_}}) {
        SCOPED_TRACE(describe(o));
        expect_exactly_once(pool, 5, 5, o, 10);
        expect_exactly_once(pool, 0, 0, o, 10);
    }
    // And the pool still works afterwards.
    expect_exactly_once(pool, 0, 100, {}, 100);
}

TEST(process_pool, many_small_calls_back_to_back) {
    process_pool pool(3);
    counter_array count(64);
    const shared_array<std::int32_t> c = count.array;
    for (int call = 0; call < 200; ++call) {
        const call_result r = pool.for_each(0, 64, [c](std::size_t i) { c.view()(i) += 1; });
        ASSERT_EQ(r.completed, 64u) << "call " << call;
    }
    for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ(count[i], 200) << "index " << i;
}

// --- 2. persistent workers ----------------------------------------------------------------

TEST(process_pool, workers_persist_across_calls_and_are_not_the_parent) {
    process_pool pool(3);
    EXPECT_EQ(pool.size(), 3u);
    const std::vector<int> before = pool.worker_pids();
    ASSERT_EQ(before.size(), 3u);
    const std::set<int> workers(before.begin(), before.end());
    EXPECT_EQ(workers.size(), 3u) << "the worker PIDs are distinct";
    EXPECT_EQ(workers.count(::getpid()), 0u);

    counter_array pid_of(300);
    const shared_array<std::int32_t> p = pid_of.array;
    std::set<int> seen_in_call[2];
    for (int call = 0; call < 2; ++call) {
        pid_of.zero();
        const call_result r = pool.for_each(
            0, 300, [p](std::size_t i) { p.view()(i) = static_cast<std::int32_t>(::getpid()); },
            {.chunk = 1});
        EXPECT_EQ(r.completed, 300u);
        for (std::size_t i = 0; i < 300; ++i) seen_in_call[call].insert(pid_of[i]);
        for (int pid : seen_in_call[call]) {
            EXPECT_NE(pid, ::getpid()) << "call " << call << ": a task ran in the parent";
            EXPECT_NE(pid, 0) << "call " << call << ": an index did not run";
            EXPECT_EQ(workers.count(pid), 1u)
                << "call " << call << ": PID " << pid << " is not one of the pool's workers";
        }
        const std::vector<int> now = pool.worker_pids();
        EXPECT_EQ(std::set<int>(now.begin(), now.end()), workers)
            << "the workers changed after call " << call;
    }
}

TEST(process_pool, default_size_is_usable_cores) {
    const std::size_t cores = process_pool::usable_cores();
    EXPECT_GE(cores, 1u);
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(cores, static_cast<std::size_t>(CPU_COUNT(&set)));
    process_pool pool;
    EXPECT_EQ(pool.size(), cores);
    EXPECT_EQ(pool.worker_pids().size(), cores);
}

// --- 3. arrays made after the pool started -------------------------------------------------

TEST(process_pool, an_array_created_after_the_pool_is_reachable_from_workers) {
    process_pool pool(3);
    const std::string name = unique_name("late");
    shm_guard guard(name);
    auto late = shared_array<double>::create(name, {50, 4});
    const call_result r = pool.for_each(0, 50, [late](std::size_t i) {
        for (std::size_t j = 0; j < 4; ++j) late.view()(i, j) = static_cast<double>(i * 10 + j);
    });
    EXPECT_EQ(r.completed, 50u);
    for (std::size_t i = 0; i < 50; ++i)
        for (std::size_t j = 0; j < 4; ++j)
            EXPECT_EQ(late.view()(i, j), static_cast<double>(i * 10 + j)) << i << "," << j;

    // A second one, created between two calls, with the first one still in use.
    const std::string name2 = unique_name("later");
    shm_guard guard2(name2);
    auto later = shared_array<std::int64_t>::create(name2, {50});
    pool.for_each(0, 50, [late, later](std::size_t i) {
        later.view()(i) = static_cast<std::int64_t>(late.view()(i, 3)) + 1;
    });
    for (std::size_t i = 0; i < 50; ++i)
        EXPECT_EQ(later.view()(i), static_cast<std::int64_t>(i * 10 + 4)) << i;
    shared_array<std::int64_t>::remove(name2);
    shared_array<double>::remove(name);
}

// --- 4. a task that throws ---------------------------------------------------------------

TEST(process_pool, a_throwing_task_gives_worker_error_with_its_details) {
    process_pool pool(3);
    const std::vector<int> pids = pool.worker_pids();
    try {
        pool.for_each(0, 100, [](std::size_t i) {
            if (i == 17) throw std::runtime_error("boom 17");
        });
        ADD_FAILURE() << "for_each did not throw";
    } catch (const worker_error& e) {
        EXPECT_EQ(e.index(), 17u);
        EXPECT_NE(e.exception_type().find("runtime_error"), std::string::npos)
            << e.exception_type();
        EXPECT_EQ(e.exception_what(), "boom 17");
        EXPECT_NE(std::find(pids.begin(), pids.end(), e.pid()), pids.end())
            << "pid " << e.pid() << " is not a worker";
        EXPECT_NE(std::string(e.what()).find("17"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected worker_error, got: " << e.what();
    }

    expect_exactly_once(pool, 0, 500, {}, 500);

    try {
        pool.for_each(0, 100, [](std::size_t i) {
            if (i == 60) throw 42;
        }, {.chunk = 3});
        ADD_FAILURE() << "for_each did not throw";
    } catch (const worker_error& e) {
        EXPECT_EQ(e.index(), 60u);
        EXPECT_NE(e.exception_type().find("int"), std::string::npos) << e.exception_type();
        EXPECT_NE(std::find(pids.begin(), pids.end(), e.pid()), pids.end());
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected worker_error, got: " << e.what();
    }

    // A failure in a static schedule too, then a full call.
    EXPECT_THROW(pool.for_each(0, 90, [](std::size_t i) {
        if (i == 89) throw std::logic_error("last");
    }, {.kind = schedule::static_}), worker_error);
    expect_exactly_once(pool, 0, 500, {.kind = schedule::static_}, 500);
    expect_exactly_once(pool, 0, 500, {}, 500);
    EXPECT_EQ(pool.worker_pids().size(), 3u) << "a task that throws does not kill its worker";
}

// --- 5. worker crashes -------------------------------------------------------------------

enum class crash { sigkill, sigsegv, abort };

void expect_crash_is_reported_and_repaired(crash how, int expected_signal) {
    process_pool pool(3);
    const std::vector<int> before = pool.worker_pids();
    ASSERT_EQ(before.size(), 3u);

    // flag[0]: crashed already; flag[1]: the PID that crashed.
    const std::string flag_name = unique_name("crashflag");
    shm_guard flag_guard(flag_name);
    const auto flag = shared_array<std::int32_t>::create(flag_name, {2});
    constexpr std::size_t crash_at = 45;

    int dead = 0;
    try {
        pool.for_each(0, 200, [flag, how](std::size_t i) {
            if (i != crash_at || flag.data()[0] != 0) return;
            flag.data()[0] = 1;
            flag.data()[1] = static_cast<std::int32_t>(::getpid());
            no_core_dump();
            switch (how) {
                case crash::sigkill:
                    ::kill(::getpid(), SIGKILL);
                    break;
                case crash::sigsegv:
                    ::signal(SIGSEGV, SIG_DFL);
                    ::raise(SIGSEGV);
                    break;
                case crash::abort:
                    std::abort();
            }
            ::_exit(99);  // not reached
        }, {.chunk = 10});
        ADD_FAILURE() << "for_each did not throw";
    } catch (const worker_died_error& e) {
        dead = flag.data()[1];
        EXPECT_EQ(e.signal(), expected_signal) << e.what();
        EXPECT_EQ(e.exit_code(), -1) << e.what();
        EXPECT_EQ(e.pid(), dead) << e.what();
        EXPECT_LE(e.first_lost(), crash_at) << e.what();
        EXPECT_GT(e.last_lost(), crash_at) << e.what();
        EXPECT_NE(std::find(before.begin(), before.end(), e.pid()), before.end())
            << "the dead PID was not one of the workers";
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected worker_died_error, got: " << e.what();
    }
    ASSERT_EQ(flag.data()[0], 1) << "the crashing index did not run";
    ASSERT_NE(dead, 0);

    // The dead worker was reaped (by the zygote): no zombie left.
    {
        const auto deadline = clock_type::now() + 2s;
        bool gone = false;
        while (!gone && clock_type::now() < deadline) {
            gone = ::kill(dead, 0) != 0 && errno == ESRCH;
            if (!gone) std::this_thread::sleep_for(5ms);
        }
        EXPECT_TRUE(gone) << "dead worker " << dead << " was not reaped (state '"
                          << proc_state(dead) << "')";
    }

    // The pool replaced it: size() live workers again, the dead one not among them. The
    // replacement is started when the death is noticed, so allow it 2 s to come up.
    {
        const auto deadline = clock_type::now() + 2s;
        std::vector<int> now = pool.worker_pids();
        while (now.size() != pool.size() && clock_type::now() < deadline) {
            std::this_thread::sleep_for(5ms);
            now = pool.worker_pids();
        }
        EXPECT_EQ(now.size(), pool.size()) << "the dead worker was not replaced after the call";
        EXPECT_EQ(std::find(now.begin(), now.end(), dead), now.end());
    }

    // It runs a full call correctly, on size() workers, none of them the dead one.
    expect_exactly_once(pool, 0, 500, {}, 500);
    const std::vector<int> after = pool.worker_pids();
    EXPECT_EQ(after.size(), pool.size());
    EXPECT_EQ(std::find(after.begin(), after.end(), dead), after.end());
    for (int p : after) EXPECT_FALSE(has_exited(p)) << "worker " << p << " is not alive";

    shared_array<std::int32_t>::remove(flag_name);
}

TEST(process_pool, a_worker_killed_by_sigkill_gives_worker_died_error) {
    expect_crash_is_reported_and_repaired(crash::sigkill, SIGKILL);
}

TEST(process_pool, a_worker_dying_of_sigsegv_gives_worker_died_error) {
    expect_crash_is_reported_and_repaired(crash::sigsegv, SIGSEGV);
}

TEST(process_pool, a_worker_calling_abort_gives_worker_died_error) {
    expect_crash_is_reported_and_repaired(crash::abort, SIGABRT);
}

// --- 6. retries --------------------------------------------------------------------------

TEST(process_pool, retries_rerun_the_indices_lost_with_a_dead_worker) {
    process_pool pool(3);
    const std::string flag_name = unique_name("retryflag");
    shm_guard flag_guard(flag_name);
    const auto flag = shared_array<std::int32_t>::create(flag_name, {1});
    counter_array count(100);
    const shared_array<std::int32_t> c = count.array;

    call_result r;
    ASSERT_NO_THROW(r = pool.for_each(0, 100, [flag, c](std::size_t i) {
        if (i == 30 && flag.data()[0] == 0) {
            flag.data()[0] = 1;
            ::kill(::getpid(), SIGKILL);
        }
        c.view()(i) += 1;
    }, {.retries = 2}));
    EXPECT_EQ(flag.data()[0], 1) << "the crash did not happen";
    EXPECT_FALSE(r.cancelled);
    EXPECT_EQ(r.completed, 100u) << "every index ran to the end once the lost ones were re-run";
    for (std::size_t i = 0; i < 100; ++i) EXPECT_GE(count[i], 1) << "index " << i << " never ran";
    EXPECT_GE(count[30], 1);
    EXPECT_EQ(pool.worker_pids().size(), pool.size());
    expect_exactly_once(pool, 0, 300, {}, 300);
    shared_array<std::int32_t>::remove(flag_name);
}

// --- 7. parent death ---------------------------------------------------------------------

TEST(process_pool, workers_exit_when_the_parent_is_killed_with_sigkill) {
    subreaper_scope reaper;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t stand_in = ::fork();
    ASSERT_GE(stand_in, 0);
    if (stand_in == 0) {
        ::close(fds[0]);
        ::alarm(30);  // never outlive a broken test
        try {
            process_pool pool(3);
            const std::vector<int> pids = pool.worker_pids();
            write_all(fds[1], pids.data(), pids.size() * sizeof(int));
            ::close(fds[1]);
            for (;;) ::pause();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "stand-in parent: %s\n", e.what());
        }
        ::_exit(3);
    }
    ::close(fds[1]);
    const std::vector<int> pids = read_pids(fds[0], 3, 10s);
    ::close(fds[0]);
    reaper.strays = pids;
    ASSERT_EQ(pids.size(), 3u) << "the stand-in parent did not report its workers";
    for (int p : pids) EXPECT_FALSE(has_exited(p)) << "worker " << p << " is not running";

    ASSERT_EQ(::kill(stand_in, SIGKILL), 0);
    const int status = wait_with_deadline(stand_in, 5s);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    // Documented: within a second. 3 s here, so that only a real failure fails on a busy box.
    const std::vector<int> running = wait_for_exit(pids, 3s);
    EXPECT_TRUE(running.empty()) << running.size() << " worker(s) outlived their parent, e.g. "
                                 << (running.empty() ? 0 : running.front());
}

// --- 8. SIGTERM and SIGINT on the parent -------------------------------------------------

void expect_signal_cleans_up(int sig) {
    subreaper_scope reaper;
    const std::string name = unique_name("sigarray");
    shm_guard guard(name);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t stand_in = ::fork();
    ASSERT_GE(stand_in, 0);
    if (stand_in == 0) {
        ::close(fds[0]);
        ::alarm(30);
        try {
            auto array = shared_array<std::int32_t>::create(name, {16});
            process_pool pool(3);
            const std::vector<int> pids = pool.worker_pids();
            write_all(fds[1], pids.data(), pids.size() * sizeof(int));
            ::close(fds[1]);
            pool.for_each(0, 10000, [array](std::size_t i) {
                array.view()(i % 16) += 1;
                ::usleep(10'000);
            });
            std::fprintf(stderr, "stand-in parent: the long call ended\n");
            ::_exit(4);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "stand-in parent: %s\n", e.what());
        }
        ::_exit(3);
    }
    ::close(fds[1]);
    const std::vector<int> pids = read_pids(fds[0], 3, 10s);
    ::close(fds[0]);
    reaper.strays = pids;
    if (pids.size() != 3u) {
        ::kill(stand_in, SIGKILL);
        wait_with_deadline(stand_in, 5s);
        FAIL() << "the stand-in parent did not report its workers";
    }
    EXPECT_TRUE(shm_exists(name));
    std::this_thread::sleep_for(200ms);  // well into the call

    ASSERT_EQ(::kill(stand_in, sig), 0);
    bool timed_out = false;
    const int status = wait_with_deadline(stand_in, 5s, &timed_out);
    EXPECT_FALSE(timed_out) << "the stand-in parent did not end on signal " << sig;
    EXPECT_TRUE(WIFSIGNALED(status)) << "status " << status;
    if (WIFSIGNALED(status)) {
        EXPECT_EQ(WTERMSIG(status), sig);
    }
    EXPECT_FALSE(shm_exists(name)) << "the array of the signalled process was left in /dev/shm";

    const std::vector<int> running = wait_for_exit(pids, 3s);
    EXPECT_TRUE(running.empty()) << running.size() << " worker(s) outlived their parent";
}

TEST(process_pool, sigterm_on_the_parent_stops_workers_and_removes_its_arrays) {
    expect_signal_cleans_up(SIGTERM);
}

TEST(process_pool, sigint_on_the_parent_stops_workers_and_removes_its_arrays) {
    expect_signal_cleans_up(SIGINT);
}

TEST(process_pool, sigterm_on_a_forked_child_leaves_the_parents_pool_alone) {
    // The pool's SIGTERM handler is inherited by a plain fork() of the pool's parent; a child
    // ended by SIGTERM must stop only what it owns, not the parent's zygote and workers.
    process_pool pool(2);
    const std::vector<int> before = pool.worker_pids();
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::alarm(30);
        for (;;) ::pause();
    }
    std::this_thread::sleep_for(50ms);
    ASSERT_EQ(::kill(child, SIGTERM), 0);
    const int status = wait_with_deadline(child, 5s);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
    std::this_thread::sleep_for(100ms);  // time for a wrongly killed zygote's workers to die

    for (int p : before) EXPECT_FALSE(has_exited(p)) << "worker " << p << " was killed";
    try {
        expect_exactly_once(pool, 0, 300, {}, 300);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "the pool is broken after its parent's child got SIGTERM: " << e.what();
    }
    const std::vector<int> after = pool.worker_pids();
    EXPECT_EQ(std::set<int>(after.begin(), after.end()), std::set<int>(before.begin(), before.end()));
}

// --- 9. cancellation ---------------------------------------------------------------------

TEST(process_pool, cancel_call_from_a_task_stops_the_call) {
    process_pool pool(3);
    counter_array count(100000);
    const shared_array<std::int32_t> c = count.array;
    const call_result r = pool.for_each(0, 100000, [c](std::size_t i) {
        c.view()(i) += 1;
        if (i == 500) cancel_call();
    }, {.chunk = 10});
    EXPECT_TRUE(r.cancelled);
    EXPECT_GE(r.completed, 1u);
    EXPECT_LT(r.completed, 100000u);
    EXPECT_EQ(count[500], 1);
    std::size_t ran = 0;
    for (std::size_t i = 0; i < 100000; ++i) ran += static_cast<std::size_t>(count[i]);
    EXPECT_EQ(ran, r.completed) << "completed counts the indices that ran";

    // (d) The next call runs fully and is not marked cancelled.
    const call_result next = pool.for_each(0, 1000, [](std::size_t) {
        if (call_cancelled()) throw std::runtime_error("still cancelled");
    });
    EXPECT_FALSE(next.cancelled);
    EXPECT_EQ(next.completed, 1000u);
    expect_exactly_once(pool, 0, 1000, {.chunk = 10}, 1000);
}

TEST(process_pool, call_cancelled_is_true_after_cancel_call) {
    process_pool pool(2);
    counter_array seen(2);
    const shared_array<std::int32_t> s = seen.array;
    const call_result r = pool.for_each(0, 100000, [s](std::size_t i) {
        if (i == 100) {
            cancel_call();
            s.view()(0) = call_cancelled() ? 1 : 2;
        }
    }, {.chunk = 10});
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(seen[0], 1) << "call_cancelled() is true right after cancel_call()";
    EXPECT_FALSE(call_cancelled()) << "false outside a worker";
}

TEST(process_pool, cancel_from_another_thread_stops_the_call) {
    const int rc = run_in_child([] {
        // started: set by the first task, so that cancel() comes during the call.
        void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return 10;
        auto* started = new (mem) std::atomic<int>(0);
        process_pool pool(2);
        std::thread canceller([&pool, started] {
            const auto deadline = clock_type::now() + 10s;
            while (started->load() == 0 && clock_type::now() < deadline)
                std::this_thread::sleep_for(1ms);
            std::this_thread::sleep_for(100ms);
            pool.cancel();
        });
        const call_result r = pool.for_each(0, 1'000'000, [started](std::size_t) {
            started->store(1);
            ::usleep(1000);
        });
        canceller.join();
        if (!r.cancelled) {
            std::fprintf(stderr, "not cancelled, completed %zu\n", r.completed);
            return 2;
        }
        if (r.completed >= 1'000'000 || r.completed == 0) {
            std::fprintf(stderr, "completed %zu\n", r.completed);
            return 3;
        }
        // The next call runs fully.
        const call_result next = pool.for_each(0, 100, [](std::size_t) {});
        if (next.cancelled || next.completed != 100) {
            std::fprintf(stderr, "next call: cancelled %d completed %zu\n", next.cancelled,
                         next.completed);
            return 4;
        }
        return 0;
    }, 20s);
    EXPECT_EQ(rc, 0) << "2: not cancelled, 3: wrong count, 4: the next call failed, "
                        "-1: hung (cancel() did not stop the call)";
}

TEST(process_pool, cancel_call_outside_a_worker_throws) {
    EXPECT_THROW(cancel_call(), error);
    EXPECT_FALSE(call_cancelled());
}

TEST(process_pool, cancel_between_calls_does_not_cancel_the_next_call) {
    process_pool pool(2);
    pool.cancel();  // no call in progress
    const call_result r = pool.for_each(0, 1000, [](std::size_t) {});
    EXPECT_FALSE(r.cancelled);
    EXPECT_EQ(r.completed, 1000u);
}

// --- 10. fork and threads ----------------------------------------------------------------

std::size_t threads_here() { return detail::threads_of_this_process(); }

TEST(process_pool, refuses_to_start_in_a_multithreaded_process_unless_allowed) {
    const std::string name = unique_name("threads");
    shm_guard guard(name);
    auto out = shared_array<std::int32_t>::create(name, {8});
    const int rc = run_in_child([out] {
        omp_set_num_threads(2);
        int team = 0;
#pragma omp parallel
        {
#pragma omp single
            team = omp_get_num_threads();
        }
        if (team < 2 || threads_here() < 2) {
            std::fprintf(stderr, "no OpenMP threads: team %d, threads %zu\n", team, threads_here());
            return 2;
        }
        try {
            process_pool pool(2);
            std::fprintf(stderr, "the pool started in a multi-threaded process\n");
            return 3;
        } catch (const invalid_argument_error& e) {
            std::fprintf(stderr, "wrong exception type: %s\n", e.what());
            return 4;
        } catch (const error& e) {
            const std::string what = e.what();
            if (what.find("threads") == std::string::npos ||
                what.find("before") == std::string::npos) {
                std::fprintf(stderr, "message does not say what to do: %s\n", e.what());
                return 5;
            }
        }
        process_pool pool(2, {.allow_threads = true});
        if (pool.worker_pids().size() != 2) return 6;
        const call_result r = pool.for_each(0, 8, [out](std::size_t i) {
            out.view()(i) = static_cast<std::int32_t>(i) + 1;
        });
        if (r.completed != 8) return 7;
        return 0;
    }, 20s);
    EXPECT_EQ(rc, 0) << "see the child's message on stderr";
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(out.view()(i), static_cast<int>(i) + 1) << i;
    shared_array<std::int32_t>::remove(name);
}

TEST(process_pool, starts_right_after_an_array_was_populated_by_helper_threads) {
    // create() populates a large array from short-lived threads; once it returns the process
    // is single-threaded again and a pool may start without allow_threads.
    const int rc = run_in_child(
        [] {
            const std::string name = unique_name("after_populate");
            shm_guard guard(name);
            auto a = shared_array<std::uint8_t>::create(name, {std::size_t{256} << 20});
            try {
                process_pool pool(2);
                const call_result r = pool.for_each(0, 4, [a](std::size_t i) { a.data()[i] = 1; });
                return r.completed == 4 && a.data()[3] == 1 ? 0 : 2;
            } catch (const error& e) {
                std::fprintf(stderr, "the pool refused to start: %s\n", e.what());
                return 3;
            }
        },
        30s);
    EXPECT_EQ(rc, 0) << "see the child's message on stderr";
}

TEST(process_pool, tasks_may_use_openmp_inside_the_workers) {
    ASSERT_EQ(threads_here(), 1u) << "this test process must stay single-threaded";
    const std::string name = unique_name("omp");
    shm_guard guard(name);
    auto out = shared_array<std::int64_t>::create(name, {16, 2});
    const int rc = run_in_child([out] {
        process_pool pool(2);
        const call_result r = pool.for_each(0, 16, [out](std::size_t i) {
            std::int64_t sum = 0;
            int team = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(2)
            for (int k = 0; k < 1000; ++k) {
                if (k == 0) team = omp_get_num_threads();
                sum += k + static_cast<std::int64_t>(i);
            }
            out.view()(i, 0) = sum;
            out.view()(i, 1) = team;
        }, {.chunk = 1});
        return r.completed == 16 ? 0 : 2;
    }, 20s);
    EXPECT_EQ(rc, 0) << "-1: the OpenMP task hung in a worker";
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(out.view()(i, 0), 499500 + 1000 * static_cast<std::int64_t>(i)) << i;
        EXPECT_EQ(out.view()(i, 1), 2) << "index " << i << " ran without an OpenMP team";
    }
    shared_array<std::int64_t>::remove(name);
}

// --- 11. progress line -------------------------------------------------------------------

std::string stderr_of_a_long_call(progress mode) {
    const std::string path = "/tmp/" + unique_name("stderr") + ".txt";
    test::unlink_guard guard(path);
    const int rc = run_in_child([&path, mode] {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ::dup2(fd, 2) < 0) return 2;
        ::close(fd);
        process_pool pool(2);
        // ~1.2 s: 240 tasks of 10 ms on 2 workers.
        const call_result r = pool.for_each(0, 240, [](std::size_t) { ::usleep(10'000); },
                                            {.show_progress = mode});
        return r.completed == 240 ? 0 : 3;
    }, 30s);
    EXPECT_EQ(rc, 0);
    return read_file(path);
}

TEST(process_pool, progress_always_draws_a_line_on_stderr) {
    const std::string text = stderr_of_a_long_call(progress::always);
    EXPECT_NE(text.find("[shmpool]"), std::string::npos) << "stderr: " << text;
    EXPECT_NE(text.find("ETA"), std::string::npos) << "stderr: " << text;
    EXPECT_NE(text.find("/240"), std::string::npos) << "stderr: " << text;
}

TEST(process_pool, progress_never_writes_nothing) {
    const std::string text = stderr_of_a_long_call(progress::never);
    EXPECT_EQ(text, "");
}

TEST(process_pool, progress_automatic_is_silent_when_stderr_is_not_a_terminal) {
    const std::string text = stderr_of_a_long_call(progress::automatic);
    EXPECT_EQ(text.find("[shmpool]"), std::string::npos) << "stderr: " << text;
}

// --- map and imap ------------------------------------------------------------------------

/// The result buffers map() and imap() made in this process that are still in /dev/shm.
std::vector<std::string> result_buffers_left() {
    const std::string mine = "shmpool-results-" + std::to_string(::getpid()) + "-";
    std::vector<std::string> left;
    for (const std::string& n : test::shm_listing())
        if (n.rfind(mine, 0) == 0) left.push_back(n);
    return left;
}

TEST(process_pool, map_returns_the_results_in_index_order) {
    process_pool pool(3);
    const std::vector<std::int64_t> squares =
        pool.map(5, 505, [](std::size_t i) { return static_cast<std::int64_t>(i * i); });
    ASSERT_EQ(squares.size(), 500u);
    for (std::size_t k = 0; k < 500; ++k)
        ASSERT_EQ(squares[k], static_cast<std::int64_t>((k + 5) * (k + 5))) << "index " << k + 5;

    struct point {
        std::int32_t pid;
        double half;
    };
    const auto points = pool.map(0, 100, [](std::size_t i) {
        return point{static_cast<std::int32_t>(::getpid()), static_cast<double>(i) / 2};
    }, {.kind = schedule::static_});
    ASSERT_EQ(points.size(), 100u);
    const std::vector<int> workers = pool.worker_pids();
    for (std::size_t i = 0; i < 100; ++i) {
        EXPECT_EQ(points[i].half, static_cast<double>(i) / 2) << i;
        EXPECT_NE(std::find(workers.begin(), workers.end(), points[i].pid), workers.end()) << i;
    }

    EXPECT_TRUE(pool.map(7, 7, [](std::size_t i) { return i; }).empty());
    EXPECT_THROW(pool.map(0, 50, [](std::size_t i) {
        if (i == 20) throw std::runtime_error("no result");
        return i;
    }), worker_error);
    EXPECT_EQ(result_buffers_left(), std::vector<std::string>{})
        << "map() left its result buffer in /dev/shm";
}

TEST(process_pool, imap_yields_every_result_in_order_window_by_window) {
    process_pool pool(3);
    std::vector<std::uint64_t> got;
    for (const std::uint64_t v :
         pool.imap(10, 1010, [](std::size_t i) { return std::uint64_t{3} * i + 1; }, 64))
        got.push_back(v);
    ASSERT_EQ(got.size(), 1000u);
    for (std::size_t k = 0; k < 1000; ++k) ASSERT_EQ(got[k], 3 * (k + 10) + 1) << k + 10;

    std::size_t n = 0;
    for (const std::size_t v : pool.imap(4, 4, [](std::size_t i) { return i; }, 8)) n += v + 1;
    EXPECT_EQ(n, 0u) << "an empty range yields nothing";

    std::vector<std::size_t> one;  // default window
    for (const std::size_t v : pool.imap(0, 3, [](std::size_t i) { return i * 2; })) one.push_back(v);
    EXPECT_EQ(one, (std::vector<std::size_t>{0, 2, 4}));
    EXPECT_EQ(result_buffers_left(), std::vector<std::string>{})
        << "imap() left its result buffer in /dev/shm";
}

// --- 12. bad arguments -------------------------------------------------------------------

TEST(process_pool, rejects_zero_and_more_than_256_workers) {
    EXPECT_THROW(process_pool(0), invalid_argument_error);
    EXPECT_THROW(process_pool(257), invalid_argument_error);
    try {
        process_pool p(257);
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("257"), std::string::npos) << e.what();
    }
}

// --- 13. compile-time check (the failing half is a ctest test: tests/compile_fail/) ---------

TEST(process_pool, trivially_copyable_captures_compile) {
    const std::string name = unique_name("ok");
    shm_guard guard(name);
    auto a = shared_array<double>::create(name, {4});
    struct plain {
        int x;
        double y;
    };
    const plain p{2, 0.5};
    const std::array<int, 3> arr{1, 2, 3};
    process_pool pool(2);
    pool.for_each(0, 4, [a, p, arr](std::size_t i) {
        a.view()(i) = p.x * p.y + arr[i % 3];
    });
    EXPECT_EQ(a.view()(0), 2.0);
    EXPECT_EQ(a.view()(1), 3.0);
    EXPECT_EQ(a.view()(3), 2.0);
    shared_array<double>::remove(name);
}

}  // namespace
}  // namespace shmpool
