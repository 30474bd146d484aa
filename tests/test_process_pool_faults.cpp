// Fault injection for shmpool::process_pool: workers SIGKILLed by an outside process at random
// moments, and at chosen points of the ledger protocol through a test hook, during thousands of
// short calls. Whatever the timing, a call either returns having run every index of its range
// (exactly once, except the indices call_result::rerun names, which ran again after their worker
// died in them) or throws worker_died_error naming exactly the indices that may not have
// completed. A shared hit-count array checks it index by index.
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
#include "shmpool/call_handle.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

// --- 1. random SIGKILLs from outside --------------------------------------------------------

// 12 configurations x 100 calls of 2,000 indices; up to 3 workers killed per call at random
// moments (in a task, between chunks, during the ledger's steps, while the parent waits).
TEST(process_pool_faults, random_sigkills_never_lose_an_index) {
    int calls = 0, deaths = 0;
    for (std::size_t workers : {1, 2, 3}) {
        outside_killer killer(static_cast<std::uint32_t>(1234 + workers), 3, 1000);
        process_pool pool(workers);
        killer.watch(pool);
        ASSERT_NE(killer.zygote(), 0) << "cannot find the pool's helper process";
        for (schedule kind : {schedule::dynamic, schedule::static_}) {
            for (int retries : {0, 3}) {
                const call_options o{.kind = kind,
                                     .chunk = kind == schedule::dynamic ? 7u : 0u,
                                     .retries = retries,
                                     .show_progress = progress::never};
                const tally t = run_calls(pool, &killer, 100, 2000, o, label_of(workers, o));
                std::printf(
                    "%s: %d calls, %d returned (%d indices re-run), %d threw, %d saw "
                    "deaths\n",
                    label_of(workers, o).c_str(), t.calls, t.succeeded, t.reruns, t.threw,
                    t.with_deaths);
                calls += t.calls;
                deaths += t.with_deaths;
                if (retries > 0) {
                    EXPECT_GT(t.succeeded, t.threw)
                        << label_of(workers, o) << ": retries should let most calls succeed";
                }
            }
        }
        EXPECT_GT(killer.kills(), 0u) << workers << " workers: the killer killed nothing";
    }
    EXPECT_EQ(calls, 1200);
    EXPECT_GT(deaths, 100) << "too few calls saw a worker die: the test tests little";
}

// map(), imap(), imap_unordered() and imap_blocks() carry the same guarantee: their results are
// those of every index.
TEST(process_pool_faults, map_and_stream_results_survive_random_sigkills) {
    outside_killer killer(99, 2, 2000);
    process_pool pool(3);
    killer.watch(pool);
    const call_options o{.chunk = 5, .retries = 5, .show_progress = progress::never};
    int errors = 0;
    for (int k = 0; k < 100; ++k) {
        killer.call_starts();
        try {
            const auto out = pool.map(
                0, 3000,
                [](std::size_t i) {
                    for (int s = 0; s < 200; ++s) asm volatile("" ::: "memory");
                    return 3 * i + 1;
                },
                o);
            killer.call_ends();
            ASSERT_EQ(out.size(), 3000u);
            for (std::size_t i = 0; i < out.size(); ++i)
                ASSERT_EQ(out[i], 3 * i + 1) << "call " << k << ", index " << i;
        } catch (const worker_died_error&) {
            killer.call_ends();
            ++errors;  // possible if one call loses workers 6 rounds in a row
        }
    }
    EXPECT_LT(errors, 5);
    std::size_t i = 0;
    killer.call_starts();
    for (const std::size_t v : pool.imap(
             0, 20000, [](std::size_t j) { return j * j; }, 1000, o)) {
        ASSERT_EQ(v, i * i) << "imap result " << i;
        ++i;
    }
    killer.call_ends();
    EXPECT_EQ(i, 20000u);

    // imap_unordered and imap_blocks: every index once, with its own result.
    std::vector<int> seen(20000, 0);
    killer.call_starts();
    for (const auto& [j, v] : pool.imap_unordered(
             0, 20000, [](std::size_t k) { return k * k; }, 1000, o)) {
        ASSERT_EQ(v, j * j) << "imap_unordered result " << j;
        ++seen[j];
    }
    killer.call_ends();
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 20000);
    std::size_t blocks = 0;
    killer.call_starts();
    for (const auto& b : pool.imap_blocks<std::uint32_t>(
             0, 5000, {4, 4},
             [](std::size_t k, block_out<std::uint32_t>&out) {
                 for (std::size_t e = 0; e < 16; ++e) out.data()[e] = std::uint32_t(k * 16 + e);
             },
             256, o)) {
        for (std::size_t e = 0; e < 16; ++e)
            ASSERT_EQ(b.data()[e], std::uint32_t(blocks * 16 + e)) << "block " << blocks;
        ++blocks;
    }
    killer.call_ends();
    EXPECT_EQ(blocks, 5000u);
    EXPECT_GT(killer.kills(), 0u);
}

// Streams without retries under random SIGKILLs, 300 or more of each kind (20 window calls
// each): an ordered stream yields every index in order, or stops with worker_died_error at an
// index the dead worker did not complete (a result it stored whole before dying is delivered);
// an unordered one yields each index at most once, with its own result, and everything when
// it ends normally.
TEST(process_pool_faults, streams_never_skip_or_repeat_under_random_sigkills) {
    outside_killer killer(2024, 2, 400);
    process_pool pool(3);
    killer.watch(pool);
    const call_options o{.chunk = 3, .show_progress = progress::never};
    constexpr std::size_t n = 5000;
    int ordered_errors = 0, unordered_errors = 0;
    // A few hundred ns a task, so that kills land inside tasks.
    const auto task = [](std::size_t i) {
        for (int s = 0; s < 300; ++s) asm volatile("" ::: "memory");
        return 7 * i;
    };
    // 300 pairs of streams, then more until 5 ended by a death (60 s at most): on a loaded
    // machine most kills land before a stream's first window and cost nothing.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (int k = 0; k < 300 || (ordered_errors + unordered_errors < 5 &&
                                std::chrono::steady_clock::now() < deadline);
         ++k) {
        std::size_t next = 0;
        killer.call_starts();
        try {
            for (std::size_t v : pool.imap(0, n, task, 256, o))
                ASSERT_EQ(v, 7 * next++) << "stream " << k;
            EXPECT_EQ(next, n) << "stream " << k;
        } catch (const worker_died_error& e) {
            ++ordered_errors;  // thrown at the first index whose result is missing
            EXPECT_GE(next, e.first_lost()) << "stream " << k << ": " << e.what();
            EXPECT_TRUE(std::any_of(e.not_completed().begin(), e.not_completed().end(),
                                    [&](const index_range& r) { return r.contains(next); }))
                << "stream " << k << ": stopped at " << next << ": " << e.what();
        }
        killer.call_ends();

        std::vector<int> seen(n, 0);
        std::size_t count = 0;
        killer.call_starts();
        try {
            for (const auto& [i, v] : pool.imap_unordered(0, n, task, 256, o)) {
                ASSERT_EQ(v, 7 * i) << "stream " << k;
                ASSERT_EQ(++seen[i], 1) << "stream " << k << ": index " << i << " twice";
                ++count;
            }
            EXPECT_EQ(count, n) << "stream " << k;
        } catch (const worker_died_error& e) {
            ++unordered_errors;  // some index it did not complete is missing from what came
            EXPECT_TRUE(std::any_of(e.not_completed().begin(), e.not_completed().end(),
                                    [&](const index_range& r) {
                                        for (std::size_t i = r.begin; i < r.end; ++i)
                                            if (seen[i] == 0) return true;
                                        return false;
                                    }))
                << "stream " << k << ": every lost index came: " << e.what();
        }
        killer.call_ends();
    }
    std::fprintf(stderr, "streams: %d ordered and %d unordered ended by a death, %u kills\n",
                 ordered_errors, unordered_errors, killer.kills());
    EXPECT_GE(ordered_errors + unordered_errors, 5) << "too few deaths: the test tests little";
}

// Submitted calls (process_pool::submit) carry the same guarantee, two in flight at a time:
// while one runs, the next waits in the queue, each on its own hit-count array. Threads:
// submit() starts one, so the test runs in a child (a pool refuses a multi-threaded process).
TEST(process_pool_faults, submitted_calls_never_lose_an_index) {
    const int rc = run_in_child(
        [] {
            outside_killer killer(4321, 3, 1000);
            process_pool pool(3);
            killer.watch(pool);
            const std::size_t first = 100, n = 2000, size = n + 200;
            const counters a(size), b(size);
            int calls = 0, deaths = 0;
            for (int retries : {0, 3}) {
                const call_options o{
                    .chunk = 7, .retries = retries, .show_progress = progress::never};
                for (int k = 0; k < 150; ++k) {
                    a.zero();
                    b.zero();
                    killer.call_starts();
                    call_handle ha = pool.submit(first, first + n, hit_task{a.array}, o);
                    call_handle hb = pool.submit(first, first + n, hit_task{b.array}, o);
                    for (auto [h, c] : {std::pair{&ha, &a}, std::pair{&hb, &b}}) {
                        std::string wrong;
                        try {
                            const call_result r = h->get();
                            deaths += r.workers_died > 0;
                            wrong =
                                check_outcome(c->array.data(), size, first, first + n, &r, nullptr);
                        } catch (const worker_died_error& e) {
                            ++deaths;
                            wrong =
                                check_outcome(c->array.data(), size, first, first + n, nullptr, &e);
                        }
                        ++calls;
                        if (!wrong.empty()) {
                            ADD_FAILURE()
                                << "retries " << retries << ", pair " << k << ": " << wrong;
                            return 1;
                        }
                    }
                    killer.call_ends();
                }
            }
            std::fprintf(stderr, "submitted: %d calls, %d saw deaths, %zu kills\n", calls, deaths,
                         static_cast<std::size_t>(killer.kills()));
            EXPECT_EQ(calls, 600);
            EXPECT_GT(deaths, 50) << "too few calls saw a worker die: the test tests little";
            return ::testing::Test::HasFailure() ? 1 : 0;
        },
        std::chrono::seconds(240));
    EXPECT_EQ(rc, 0) << "the child failed (its messages are above); -1: timed out";
}

}  // namespace
}  // namespace shmpool
