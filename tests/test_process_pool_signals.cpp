// Tests of shmpool::process_pool and the death of its parent: the workers exit when the parent
// is killed with SIGKILL; SIGTERM and SIGINT on the parent stop the workers and remove its
// arrays (also while it iterates an imap, whose ring goes too, or waits for a submitted call);
// SIGTERM on a plain fork() of the parent leaves the parent's pool alone. A stand-in
// parent, forked by the test, owns the pool; the test is its subreaper.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

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

// How the stand-in parent is busy when the signal comes: a for_each, iterating an imap (its
// windows run on submit()'s thread), or waiting in get() for a submitted call.
enum class busy_in { for_each, imap, submit };

// Whether /dev/shm holds a stream ring of process `pid` (shmpool-results-PID-*).
bool has_results_buffer(pid_t pid) {
    const std::string prefix = "shmpool-results-" + std::to_string(pid) + "-";
    bool found = false;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (const dirent* e = ::readdir(d))
            found |= std::string(e->d_name).rfind(prefix, 0) == 0;
        ::closedir(d);
    }
    return found;
}

void expect_signal_cleans_up(int sig, busy_in busy = busy_in::for_each) {
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
            const auto task = [array](std::size_t i) {
                array.view()(i % 16) += 1;
                ::usleep(10'000);
                return i;
            };
            if (busy == busy_in::for_each) pool.for_each(0, 10000, task);
            if (busy == busy_in::submit) pool.submit(0, 10000, task).get();
            if (busy == busy_in::imap)
                for (std::size_t v : pool.imap(0, 10000, task, 64)) array.view()(0) += int(v & 1);
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
    if (busy == busy_in::imap) {
        EXPECT_TRUE(has_results_buffer(stand_in)) << "no ring: the test would test nothing";
    }

    ASSERT_EQ(::kill(stand_in, sig), 0);
    bool timed_out = false;
    const int status = wait_with_deadline(stand_in, 5s, &timed_out);
    EXPECT_FALSE(timed_out) << "the stand-in parent did not end on signal " << sig;
    EXPECT_TRUE(WIFSIGNALED(status)) << "status " << status;
    if (WIFSIGNALED(status)) {
        EXPECT_EQ(WTERMSIG(status), sig);
    }
    EXPECT_FALSE(shm_exists(name)) << "the array of the signalled process was left in /dev/shm";
    EXPECT_FALSE(has_results_buffer(stand_in)) << "its stream's ring was left in /dev/shm";

    const std::vector<int> running = wait_for_exit(pids, 3s);
    EXPECT_TRUE(running.empty()) << running.size() << " worker(s) outlived their parent";
}

TEST(process_pool, sigterm_on_the_parent_stops_workers_and_removes_its_arrays) {
    expect_signal_cleans_up(SIGTERM);
}

TEST(process_pool, sigint_on_the_parent_stops_workers_and_removes_its_arrays) {
    expect_signal_cleans_up(SIGINT);
}

TEST(process_pool, sigterm_during_an_imap_stops_workers_and_removes_the_ring) {
    expect_signal_cleans_up(SIGTERM, busy_in::imap);
}

TEST(process_pool, sigint_during_an_imap_stops_workers_and_removes_the_ring) {
    expect_signal_cleans_up(SIGINT, busy_in::imap);
}

TEST(process_pool, sigterm_while_waiting_for_a_submitted_call_stops_workers) {
    expect_signal_cleans_up(SIGTERM, busy_in::submit);
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
    EXPECT_EQ(std::set<int>(after.begin(), after.end()),
              std::set<int>(before.begin(), before.end()));
}

}  // namespace
}  // namespace shmpool
