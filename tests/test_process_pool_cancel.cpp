// Tests of cancelling a shmpool::process_pool call: cancel_call() from a task and
// process_pool::cancel() from another thread stop the call, call_result counts exactly the
// indices that ran, call_cancelled() tells a task, and the next call runs in full.
//
// The canceller thread runs inside test::run_in_child: a pool refuses to start in a
// multi-threaded process, and later tests of this binary construct pools.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <thread>

#include "pool_test_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

// --- 9. cancellation ---------------------------------------------------------------------

TEST(process_pool, cancel_call_from_a_task_stops_the_call) {
    process_pool pool(3);
    counter_array count(100000);
    const shared_array<std::int32_t> c = count.array;
    const call_result r = pool.for_each(0, 100000,
                                        [c](std::size_t i) {
                                            c.view()(i) += 1;
                                            if (i == 500) cancel_call();
                                        },
                                        {.chunk = 10});
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
    const call_result r = pool.for_each(0, 100000,
                                        [s](std::size_t i) {
                                            if (i == 100) {
                                                cancel_call();
                                                s.view()(0) = call_cancelled() ? 1 : 2;
                                            }
                                        },
                                        {.chunk = 10});
    EXPECT_TRUE(r.cancelled);
    EXPECT_EQ(seen[0], 1) << "call_cancelled() is true right after cancel_call()";
    EXPECT_FALSE(call_cancelled()) << "false outside a worker";
}

TEST(process_pool, cancel_from_another_thread_stops_the_call) {
    const int rc = run_in_child(
        [] {
            // started: set by the first task, so that cancel() comes during the call.
            void* mem =
                ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
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
        },
        20s);
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

}  // namespace
}  // namespace shmpool
