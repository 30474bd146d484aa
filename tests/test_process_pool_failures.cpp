// Tests of shmpool::process_pool when tasks fail: a task that throws gives worker_error with its
// details and leaves the workers alive; a worker killed by SIGKILL, SIGSEGV or abort() gives
// worker_died_error, is reaped and replaced; call_options::retries re-runs the lost indices.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

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
        pool.for_each(0, 100,
                      [](std::size_t i) {
                          if (i == 60) throw 42;
                      },
                      {.chunk = 3});
        ADD_FAILURE() << "for_each did not throw";
    } catch (const worker_error& e) {
        EXPECT_EQ(e.index(), 60u);
        EXPECT_NE(e.exception_type().find("int"), std::string::npos) << e.exception_type();
        EXPECT_NE(std::find(pids.begin(), pids.end(), e.pid()), pids.end());
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected worker_error, got: " << e.what();
    }

    // A failure in a static schedule too, then a full call.
    EXPECT_THROW(pool.for_each(0, 90,
                               [](std::size_t i) {
                                   if (i == 89) throw std::logic_error("last");
                               },
                               {.kind = schedule::static_}),
                 worker_error);
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
        pool.for_each(0, 200,
                      [flag, how](std::size_t i) {
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
                      },
                      {.chunk = 10});
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
    ASSERT_NO_THROW(r = pool.for_each(0, 100,
                                      [flag, c](std::size_t i) {
                                          if (i == 30 && flag.data()[0] == 0) {
                                              flag.data()[0] = 1;
                                              ::kill(::getpid(), SIGKILL);
                                          }
                                          c.view()(i) += 1;
                                      },
                                      {.retries = 2}));
    EXPECT_EQ(flag.data()[0], 1) << "the crash did not happen";
    EXPECT_FALSE(r.cancelled);
    EXPECT_EQ(r.completed, 100u) << "every index ran to the end once the lost ones were re-run";
    for (std::size_t i = 0; i < 100; ++i) EXPECT_GE(count[i], 1) << "index " << i << " never ran";
    EXPECT_GE(count[30], 1);
    EXPECT_EQ(pool.worker_pids().size(), pool.size());
    expect_exactly_once(pool, 0, 300, {}, 300);
    shared_array<std::int32_t>::remove(flag_name);
}

}  // namespace
}  // namespace shmpool
