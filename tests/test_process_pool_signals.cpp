// Tests of shmpool::process_pool and the death of its parent: the workers exit when the parent
// is killed with SIGKILL; SIGTERM and SIGINT on the parent stop the workers and remove its
// arrays; SIGTERM on a plain fork() of the parent leaves the parent's pool alone. A stand-in
// parent, forked by the test, owns the pool; the test is its subreaper.
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
    EXPECT_EQ(std::set<int>(after.begin(), after.end()),
              std::set<int>(before.begin(), before.end()));
}

}  // namespace
}  // namespace shmpool
