#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <type_traits>

#include "shmpool/error.hpp"
#include "shmpool/semaphore.hpp"
#include "sync_test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;  // sync_test_support.hpp: child_group, shared_object...

struct shared_state {
    explicit shared_state(std::uint32_t initial) : sem(initial) {}
    semaphore sem;
    std::atomic<int> taken{0};
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<int> waiting{0};
};

TEST(semaphore, is_standard_layout_and_counts_in_one_process) {
    static_assert(std::is_standard_layout_v<semaphore>);
    semaphore sem(2);
    EXPECT_EQ(sem.value(), 2u);
    EXPECT_TRUE(sem.try_acquire());
    sem.acquire();
    EXPECT_FALSE(sem.try_acquire());
    sem.release(3);
    EXPECT_EQ(sem.value(), 3u);
}

TEST(semaphore, every_release_is_acquired_exactly_once_across_processes) {
    shared_object<shared_state> s(0u);
    child_group children;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&] {
            for (int i = 0; i < 250; ++i) {
                if (!s->sem.try_acquire_for(10s)) return 1;
                ++s->taken;
            }
            return 0;
        });
    }
    for (std::uint32_t given = 0, n = 1; given < 1000; given += n, n = n % 7 + 1) {
        n = std::min(n, 1000 - given);
        s->sem.release(n);
        if (given % 100 == 0) std::this_thread::sleep_for(1ms);  // let some of them sleep
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->taken.load(), 1000);
    EXPECT_EQ(s->sem.value(), 0u);
    EXPECT_FALSE(s->sem.try_acquire());
}

TEST(semaphore, limits_how_many_processes_are_inside) {
    shared_object<shared_state> s(2u);
    child_group children;
    for (int c = 0; c < 5; ++c) {
        children.spawn([&] {
            for (int i = 0; i < 200; ++i) {
                s->sem.acquire();
                const int now = ++s->inside;
                int most = s->most_inside.load();
                while (now > most && !s->most_inside.compare_exchange_weak(most, now)) {
                }
                if (i % 20 == 0) std::this_thread::sleep_for(100us);
                --s->inside;
                s->sem.release();
            }
            return 0;
        });
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_LE(s->most_inside.load(), 2);
    EXPECT_GE(s->most_inside.load(), 1);
    EXPECT_EQ(s->sem.value(), 2u);
}

TEST(semaphore, release_wakes_processes_waiting_in_acquire) {
    shared_object<shared_state> s(0u);
    child_group children;
    for (int c = 0; c < 3; ++c) {
        children.spawn([&] {
            ++s->waiting;
            s->sem.acquire();
            return 0;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->waiting.load() == 3; }));
    std::this_thread::sleep_for(50ms);  // let them fall asleep
    s->sem.release(3);
    EXPECT_TRUE(children.all_succeed(10s));
    EXPECT_EQ(s->sem.value(), 0u);
}

TEST(semaphore, timed_acquire_times_out_when_the_count_is_zero) {
    shared_object<shared_state> s(0u);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->sem.try_acquire_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->sem.try_acquire_until(std::chrono::steady_clock::now() + 50ms));
    EXPECT_GE(since(start), 50ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->sem.try_acquire_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(since(start), 40ms);  // another clock: converted once, allow for rounding
    EXPECT_FALSE(s->sem.try_acquire_for(-1s));
    EXPECT_EQ(s->sem.value(), 0u) << "a timed-out acquire takes nothing";

    child_group children;
    children.spawn([&] {
        std::this_thread::sleep_for(30ms);
        s->sem.release();
        return 0;
    });
    EXPECT_TRUE(s->sem.try_acquire_for(10s));
    EXPECT_TRUE(children.all_succeed());
}

TEST(semaphore, release_beyond_the_maximum_throws_and_adds_nothing) {
    semaphore sem(semaphore::max() - 1);
    sem.release();
    EXPECT_THROW(sem.release(), invalid_argument_error);
    EXPECT_EQ(sem.value(), semaphore::max());
}

TEST(semaphore, a_process_that_dies_does_not_give_its_unit_back) {
    shared_object<shared_state> s(1u);
    child_group children;
    const pid_t taker = children.spawn([&] {
        s->sem.acquire();
        ::_exit(0);  // dies "holding" it
        return 1;
    });
    EXPECT_EQ(children.wait(taker), 0);
    EXPECT_FALSE(s->sem.try_acquire_for(20ms)) << "ownerless: documented";
}

TEST(semaphore, lives_in_a_named_segment) {
    const std::string name = unique_name("semaphore");
    shm_guard guard(name);
    named_object<shared_state> s(name, 0u);
    child_group children;
    for (int c = 0; c < 2; ++c) {
        children.spawn([&] {
            shared_array<std::uint8_t> mapping;
            shared_state& mine = named_object<shared_state>::attach(name, mapping);
            for (int i = 0; i < 100; ++i) {
                if (!mine.sem.try_acquire_for(10s)) return 1;
                ++mine.taken;
            }
            return 0;
        });
    }
    for (int i = 0; i < 200; ++i) s->sem.release();
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->taken.load(), 200);
}

}  // namespace
}  // namespace shmpool
