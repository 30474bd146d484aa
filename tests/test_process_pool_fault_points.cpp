// Fault injection for shmpool::process_pool at chosen points of the ledger protocol (through a
// test hook), alone or with outside kills; every worker dying in one call; a pool of one; and
// the exact count of a cancelled call. See test_process_pool_faults.cpp
// for random kills and fault_test_support.hpp for the checks.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault_test_support.hpp"
#include "pool_control.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;
using detail::fault_point;
using detail::pool_internals;

// --- 2. deaths at chosen points of the ledger protocol --------------------------------------

void inject(process_pool& pool, fault_point at, std::int64_t countdown) {
    pool_internals::inject_fault(pool, at, countdown);
}

// One worker, chunks of 10: it dies at the 5th chunk (indices [40, 50)), at each point.
struct single_worker_case {
    fault_point at;
    bool chunk_was_taken;  // whether the ledger must count [40, 50) as taken by the dead worker
};

TEST(process_pool_faults, one_worker_dying_at_each_point_loses_exactly_what_it_held) {
    process_pool pool(1);
    const counters count(2000);
    const shared_array<std::uint32_t> hits = count.array;
    for (const single_worker_case c : {single_worker_case{fault_point::after_attempt, false},
                                       single_worker_case{fault_point::after_take, true},
                                       single_worker_case{fault_point::before_run, true}}) {
        for (schedule kind : {schedule::dynamic, schedule::static_}) {
            SCOPED_TRACE("fault point " + std::to_string(static_cast<int>(c.at)) +
                         (kind == schedule::dynamic ? ", dynamic" : ", static"));
            // Without retries: the error names [40, 2000); 40 was "running" only if taken.
            count.zero();
            inject(pool, c.at, 5);
            try {
                pool.for_each(0, 2000, hit_task{hits, 0},
                              {.kind = kind, .chunk = 10, .show_progress = progress::never});
                ADD_FAILURE() << "the worker did not die";
            } catch (const worker_died_error& e) {
                ASSERT_EQ(e.not_completed().size(), 1u) << e.what();
                EXPECT_EQ(e.not_completed()[0], (index_range{40, 2000})) << e.what();
                EXPECT_EQ(e.interrupted(), c.chunk_was_taken ? std::vector<std::size_t>{40}
                                                             : std::vector<std::size_t>{})
                    << e.what();
                EXPECT_EQ(e.signal(), SIGKILL);
                EXPECT_NE(std::string(e.what()).find("[40, 2000)"), std::string::npos) << e.what();
                for (std::size_t i = 0; i < 2000; ++i)
                    ASSERT_EQ(hits.data()[i], i < 40 ? 1u : 0u) << "index " << i;
            }
            // With retries: every index once; 40 re-run (it had not started, so still once).
            count.zero();
            inject(pool, c.at, 5);
            const call_result r = pool.for_each(
                0, 2000, hit_task{hits, 0},
                {.kind = kind, .chunk = 10, .retries = 1, .show_progress = progress::never});
            EXPECT_EQ(r.completed, 2000u);
            EXPECT_EQ(r.workers_died, 1u);
            EXPECT_EQ(r.rerun, c.chunk_was_taken ? std::vector<std::size_t>{40}
                                                 : std::vector<std::size_t>{});
            for (std::size_t i = 0; i < 2000; ++i) ASSERT_EQ(hits.data()[i], 1u) << "index " << i;
        }
    }
    inject(pool, fault_point::none, 0);
}

// Several workers, a death at each point after a random number of passes, alone or together
// with outside kills: the outcome is exact every time.
TEST(process_pool_faults, deaths_at_chosen_points_with_outside_kills_never_lose_an_index) {
    std::mt19937 rng(7);
    int calls = 0, with_deaths = 0;
    for (std::size_t workers : {2, 3}) {
        outside_killer killer(static_cast<std::uint32_t>(workers), 1, 3000);
        process_pool pool(workers);
        killer.watch(pool);
        for (fault_point at : {fault_point::after_attempt, fault_point::after_take,
                               fault_point::before_run, fault_point::after_confirm}) {
            for (schedule kind : {schedule::dynamic, schedule::static_}) {
                for (int retries : {0, 2}) {
                    const call_options o{.kind = kind,
                                         .chunk = 3,
                                         .retries = retries,
                                         .show_progress = progress::never};
                    for (int k = 0; k < 10; ++k) {
                        inject(pool, at, 1 + static_cast<std::int64_t>(rng() % 300));
                        const tally t = run_calls(pool, k % 2 ? &killer : nullptr, 1, 1000, o,
                                                  label_of(workers, o) + ", fault point " +
                                                      std::to_string(static_cast<int>(at)));
                        calls += t.calls;
                        with_deaths += t.with_deaths;
                    }
                    inject(pool, fault_point::none, 0);
                }
            }
        }
    }
    EXPECT_EQ(calls, 320);
    EXPECT_GT(with_deaths, 150) << "the fault points were rarely reached";
}

// --- 3. every worker dying, and the pool of one --------------------------------------------

TEST(process_pool_faults, every_worker_dying_in_one_call_is_retried_on_fresh_workers) {
    process_pool pool(3);
    const counters kill_flags(2000, "killflags"), count(2000);
    const shared_array<std::uint32_t> flags = kill_flags.array, hits = count.array;
    // Indices 10, 700 and 1400 each kill the worker that first runs them, after counting the
    // hit: one near the start of each worker's share.
    const auto task = [flags, hits](std::size_t i) {
        std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1);
        if ((i == 10 || i == 700 || i == 1400) &&
            std::atomic_ref<std::uint32_t>(flags.data()[i]).exchange(1) == 0)
            ::kill(::getpid(), SIGKILL);
        for (int s = 0; s < 2000; ++s) asm volatile("" ::: "memory");
    };
    const call_result r = pool.for_each(0, 2000, task, {.chunk = 5, .retries = 2});
    EXPECT_EQ(r.completed, 2000u);
    EXPECT_EQ(r.workers_died, 3u);
    EXPECT_EQ(r.rerun, (std::vector<std::size_t>{10, 700, 1400}));
    for (std::size_t i = 0; i < 2000; ++i) {
        const bool killer_index = i == 10 || i == 700 || i == 1400;
        ASSERT_EQ(hits.data()[i], killer_index ? 2u : 1u) << "index " << i;
    }
    EXPECT_EQ(pool.worker_pids().size(), 3u);
}

// The case of the issue: a pool of one, killed once at index 100, three retries.
TEST(process_pool_faults, a_pool_of_one_killed_mid_call_reruns_only_what_was_left) {
    process_pool pool(1);
    const counters count(10000);
    const shared_array<std::uint32_t> hits = count.array;
    const auto task = [hits](std::size_t i) {
        if (std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1) == 0 && i == 100)
            ::kill(::getpid(), SIGKILL);
    };
    const call_result r = pool.for_each(0, 10000, task, {.retries = 3});
    EXPECT_EQ(r.completed, 10000u);
    EXPECT_EQ(r.workers_died, 1u);
    EXPECT_EQ(r.rerun, std::vector<std::size_t>{100});
    for (std::size_t i = 0; i < 10000; ++i)
        ASSERT_EQ(hits.data()[i], i == 100 ? 2u : 1u) << "index " << i;
}

// --- 4. completed is exact ------------------------------------------------------------------

TEST(process_pool_faults, a_cancelled_call_counts_exactly_the_indices_that_ran) {
    process_pool pool(3);
    const counters count(100000);
    const shared_array<std::uint32_t> hits = count.array;
    for (int k = 0; k < 20; ++k) {
        count.zero();
        const std::size_t stop_at = 1000 + 4000 * static_cast<std::size_t>(k);
        const call_result r =
            pool.for_each(0, 100000,
                          [hits, stop_at](std::size_t i) {
                              std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1);
                              if (i == stop_at) cancel_call();
                          },
                          {.chunk = 64});
        ASSERT_TRUE(r.cancelled);
        std::size_t ran = 0;
        for (std::size_t i = 0; i < 100000; ++i) {
            ASSERT_LE(hits.data()[i], 1u);
            ran += hits.data()[i];
        }
        EXPECT_EQ(r.completed, ran) << "call " << k;
    }
}

}  // namespace
}  // namespace shmpool
