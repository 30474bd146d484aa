#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "shmpool/shared_rwlock.hpp"
#include "sync_test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;  // sync_test_support.hpp: child_group, shared_object...

/// What the tests share: the lock, two fields a writer keeps equal, and flags.
struct shared_state {
    shared_rwlock lock;
    std::atomic<long> a{0};  // a writer bumps a, then b; readers must always see a == b
    std::atomic<long> b{0};
    std::atomic<int> inside{0};
    std::atomic<int> held{0};
    std::atomic<int> go{0};
    std::atomic<int> stop{0};
    std::atomic<long> reads[4] = {};
};

/// A child body that takes the lock (shared or not) and waits to be SIGKILLed holding it.
int hold_until_killed(shared_state& s, bool shared) {
    if (shared) {
        s.lock.lock_shared();
    } else {
        s.lock.lock();
    }
    s.held = 1;
    for (;;) ::pause();
}

/// Starts a child that holds the lock until it is killed; returns its PID once it holds it.
pid_t start_holder(child_group& children, shared_state& s, bool shared) {
    s.held = 0;
    const pid_t pid = children.spawn([&s, shared] { return hold_until_killed(s, shared); });
    EXPECT_TRUE(eventually([&] { return s.held.load() == 1; }));
    return pid;
}

TEST(shared_rwlock, is_standard_layout_and_works_with_std_guards) {
    static_assert(std::is_standard_layout_v<shared_rwlock>);
    static_assert(sizeof(shared_rwlock) < 10 * 1024);
    shared_object<shared_state> s;
    {
        std::shared_lock reading(s->lock);
        std::shared_lock again(s->lock);  // one process may hold several shared holds
        EXPECT_FALSE(s->lock.try_lock());
    }
    {
        std::unique_lock writing(s->lock, 50ms);
        EXPECT_TRUE(writing.owns_lock());
        EXPECT_THROW(s->lock.lock_shared(), system_error) << "EDEADLK, not a hang";
    }
    EXPECT_TRUE(s->lock.try_lock_shared());
    s->lock.unlock_shared();
}

TEST(shared_rwlock, readers_share_it) {
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&] {
            std::shared_lock reading(s->lock);
            ++s->inside;
            // Only if all four hold it at once does everyone get past this.
            if (!eventually([&] { return s->inside.load() == 4; }, 10s)) return 1;
            return eventually([&] { return s->go.load() == 1; }, 10s) ? 0 : 2;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->inside.load() == 4; }));
    EXPECT_FALSE(s->lock.try_lock());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->lock.try_lock_for(30ms)) << "a writer must wait for the readers";
    EXPECT_GE(since(start), 30ms);
    s->go = 1;
    EXPECT_TRUE(s->lock.try_lock_for(10s));
    s->lock.unlock();
    EXPECT_TRUE(children.all_succeed());
}

TEST(shared_rwlock, a_writer_excludes_readers_and_writers) {
    shared_object<shared_state> s;
    child_group children;
    for (int w = 0; w < 2; ++w) {
        children.spawn([&] {
            for (int i = 0; i < 2000; ++i) {
                std::unique_lock writing(s->lock);
                s->a.store(s->a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
                if (i % 100 == 0) std::this_thread::yield();
                s->b.store(s->b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            }
            return 0;
        });
    }
    for (int r = 0; r < 2; ++r) {
        children.spawn([&] {
            for (int i = 0; i < 5000; ++i) {
                std::shared_lock reading(s->lock);
                if (s->a.load(std::memory_order_relaxed) != s->b.load(std::memory_order_relaxed)) {
                    return 1;  // saw a write half done
                }
            }
            return 0;
        });
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->a.load(), 4000);
    EXPECT_EQ(s->b.load(), 4000);
}

TEST(shared_rwlock, a_waiting_writer_is_not_starved_by_a_stream_of_readers) {
    shared_object<shared_state> s;
    child_group children;
    for (int r = 0; r < 3; ++r) {
        children.spawn([&, r] {
            while (s->stop.load(std::memory_order_relaxed) == 0) {
                s->lock.lock_shared();
                s->reads[r].fetch_add(1, std::memory_order_relaxed);
                s->lock.unlock_shared();
            }
            return 0;
        });
    }
    ASSERT_TRUE(eventually(
        [&] { return s->reads[0] >= 1000 && s->reads[1] >= 1000 && s->reads[2] >= 1000; }));
    std::chrono::steady_clock::duration slowest{};
    for (int i = 0; i < 20; ++i) {
        const auto start = std::chrono::steady_clock::now();
        ASSERT_TRUE(s->lock.try_lock_for(10s));
        slowest = std::max(slowest, since(start));
        s->lock.unlock();
        std::this_thread::sleep_for(1ms);
    }
    EXPECT_LT(slowest, 2s) << "a writer waited too long behind the readers";
    const long before = s->reads[0] + s->reads[1] + s->reads[2];
    EXPECT_TRUE(eventually([&] { return s->reads[0] + s->reads[1] + s->reads[2] > before; }))
        << "readers must go on once the writer has gone";
    s->stop = 1;
    EXPECT_TRUE(children.all_succeed());
}

/// Nanoseconds on the steady clock (CLOCK_MONOTONIC: one clock for all processes).
long steady_ns() {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

TEST(shared_rwlock, readers_asleep_behind_a_writer_are_woken_when_it_unlocks) {
    // Readers kept out by a writer sleep on the state word and say so (waiters_bit); unlock()
    // wakes them only then. A lost wake-up would still let them in, at their next liveness
    // probe of the writer (every 10 ms): so measure how long they take to get in.
    constexpr int rounds = 20;
    constexpr int sleepers = 2;
    shared_object<shared_state> s;
    std::vector<long> latency_us;
    for (int round = 0; round < rounds; ++round) {
        child_group children;
        s->lock.lock();
        s->inside = 0;
        s->held = 0;
        for (int c = 0; c < sleepers; ++c) {
            children.spawn([&, c] {
                ++s->inside;
                s->lock.lock_shared();  // untimed: sleeps until the writer leaves
                s->reads[c] = steady_ns();
                s->lock.unlock_shared();
                return 0;
            });
        }
        ASSERT_TRUE(eventually([&] { return s->inside.load() == sleepers; }));
        std::this_thread::sleep_for(25ms);  // asleep by now, past their first probe
        const long unlocked = steady_ns();
        s->lock.unlock();
        ASSERT_TRUE(children.all_succeed());
        for (int c = 0; c < sleepers; ++c) latency_us.push_back((s->reads[c] - unlocked) / 1000);
    }
    std::sort(latency_us.begin(), latency_us.end());
    // Woken: tens of microseconds. Not woken: anywhere up to 10 ms, half of them above 5 ms.
    EXPECT_LT(latency_us[latency_us.size() / 2], 2500)
        << "readers were not woken: they came in at their next probe";
    EXPECT_TRUE(s->lock.try_lock()) << "the readers all left";
    s->lock.unlock();
}

TEST(shared_rwlock, a_reader_timing_out_behind_a_writer_leaves_the_lock_working) {
    shared_object<shared_state> s;
    child_group children;
    s->lock.lock();
    const pid_t reader = children.spawn([&] {
        if (s->lock.try_lock_shared_for(30ms)) return 1;  // said it sleeps, then gave up
        s->held = 1;
        if (!eventually([&] { return s->go.load() == 1; })) return 2;
        if (!s->lock.try_lock_shared_for(5s)) return 3;
        s->lock.unlock_shared();
        return 0;
    });
    ASSERT_TRUE(eventually([&] { return s->held.load() == 1; }));
    s->lock.unlock();  // wakes nobody (or a reader already gone): must not matter
    EXPECT_TRUE(s->lock.try_lock());
    s->lock.unlock();
    s->go = 1;
    EXPECT_EQ(children.wait(reader), 0);
    EXPECT_TRUE(s->lock.try_lock_shared());
    s->lock.unlock_shared();
}

TEST(shared_rwlock, a_forked_child_does_not_hold_its_parents_exclusive_hold) {
    // The holder is told by its thread id, which is cached per thread: a child's thread must
    // not pass for the parent's thread it was forked from.
    shared_object<shared_state> s;
    child_group children;
    s->lock.lock();
    const pid_t child = children.spawn([&] {
        s->lock.unlock();  // not the holder: does nothing
        if (s->lock.try_lock_shared()) return 1;
        if (s->lock.try_lock()) return 2;
        try {
            s->lock.mark_consistent();
            return 3;
        } catch (const system_error&) {
        }
        return 0;
    });
    EXPECT_EQ(children.wait(child), 0);
    std::thread other([&] { s->lock.unlock(); });  // nor does another thread's unlock()
    other.join();
    const pid_t probe = children.spawn([&] { return s->lock.try_lock_shared() ? 1 : 0; });
    EXPECT_EQ(children.wait(probe), 0) << "the parent still holds it";
    s->lock.unlock();
    EXPECT_TRUE(s->lock.try_lock_shared());
    s->lock.unlock_shared();
}

TEST(shared_rwlock, a_writer_sees_readers_in_slots_freed_and_claimed_again) {
    // Writers look only at the slots marked occupied; a dead reader's slot is freed, then
    // forgotten by the next writer, then claimed by new readers: they must be seen.
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < 3; ++c) {
        const pid_t dead = start_holder(children, *s, true);
        children.kill(dead);
        ASSERT_TRUE(s->lock.try_lock_for(5s)) << "the dead reader's hold was not reclaimed";
        s->lock.unlock();
        ASSERT_TRUE(s->lock.try_lock()) << "a writer that forgets the free slot";
        s->lock.unlock();
    }
    s->go = 0;
    s->inside = 0;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&] {
            std::shared_lock reading(s->lock);
            ++s->inside;
            return eventually([&] { return s->go.load() == 1; }) ? 0 : 1;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->inside.load() == 4; }));
    EXPECT_FALSE(s->lock.try_lock());
    EXPECT_FALSE(s->lock.try_lock_for(20ms));
    {
        std::shared_lock mine(s->lock);  // this process's own slot too
        s->go = 1;
        EXPECT_TRUE(children.all_succeed());
        EXPECT_FALSE(s->lock.try_lock()) << "this process still reads";
    }
    EXPECT_TRUE(s->lock.try_lock());
    s->lock.unlock();
}

class shared_rwlock_reader_death : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(shared_rwlock, shared_rwlock_reader_death, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "zombie" : "reaped"; });

TEST_P(shared_rwlock_reader_death, a_writer_reclaims_the_hold_of_a_killed_reader) {
    const bool zombie = GetParam();  // killed but not yet reaped: must count as dead too
    shared_object<shared_state> s;
    child_group children;
    const pid_t reader = start_holder(children, *s, true);
    EXPECT_FALSE(s->lock.try_lock());
    children.kill(reader, !zombie);

    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(s->lock.try_lock_for(5s)) << "the dead reader's hold was not reclaimed";
    EXPECT_LT(since(start), 2s);
    s->lock.unlock();
    if (zombie) children.wait(reader);
    std::shared_lock reading(s->lock);  // and the lock works as before
}

TEST(shared_rwlock, a_writer_already_waiting_when_the_reader_dies_gets_the_lock) {
    shared_object<shared_state> s;
    child_group children;
    const pid_t reader = start_holder(children, *s, true);
    const pid_t writer = children.spawn([&] {
        if (!s->lock.try_lock_for(8s)) return 1;
        s->lock.unlock();
        return 0;
    });
    std::this_thread::sleep_for(50ms);  // the writer waits, and turns new readers away
    EXPECT_FALSE(s->lock.try_lock_shared());
    children.kill(reader);
    EXPECT_EQ(children.wait(writer, 10s), 0);
    EXPECT_TRUE(s->lock.try_lock_shared_for(1s));
    s->lock.unlock_shared();
}

TEST(shared_rwlock, a_dead_writer_is_reported_to_the_next_writer_which_holds_the_lock) {
    shared_object<shared_state> s;
    child_group children;
    children.kill(start_holder(children, *s, false));

    EXPECT_THROW(s->lock.lock(), owner_died_error);
    const pid_t probe =
        children.spawn([&] { return !s->lock.try_lock_shared() && !s->lock.try_lock() ? 0 : 1; });
    EXPECT_EQ(children.wait(probe), 0) << "the lock must be held exclusively after owner death";
    s->a = s->b.load();  // "repair"
    s->lock.mark_consistent();
    s->lock.unlock();

    const pid_t reader = children.spawn([&] {
        if (!s->lock.try_lock_shared_for(5s)) return 1;
        s->lock.unlock_shared();
        if (!s->lock.try_lock_for(5s)) return 2;
        s->lock.unlock();
        return 0;
    });
    EXPECT_EQ(children.wait(reader), 0);
}

TEST(shared_rwlock, a_reader_waiting_for_a_writer_that_dies_takes_over_exclusively) {
    shared_object<shared_state> s;
    child_group children;
    const pid_t writer = start_holder(children, *s, false);
    const pid_t reader = children.spawn([&] {
        try {
            s->lock.lock_shared();
            return 1;  // the death went unnoticed
        } catch (const owner_died_error&) {
            s->inside = 1;  // holds it exclusively: repair
            s->lock.mark_consistent();
            s->lock.unlock_shared();  // releases the exclusive hold (unlock() would too)
            return 0;
        }
    });
    std::this_thread::sleep_for(50ms);  // let the reader wait
    children.kill(writer);
    EXPECT_EQ(children.wait(reader, 10s), 0);
    EXPECT_EQ(s->inside.load(), 1);
    EXPECT_TRUE(s->lock.try_lock_for(1s)) << "no owner_died_error after the repair";
    s->lock.unlock();
    EXPECT_TRUE(s->lock.try_lock_shared());
    s->lock.unlock_shared();
}

TEST(shared_rwlock, unlock_without_mark_consistent_makes_it_not_recoverable) {
    shared_object<shared_state> s;
    child_group children;
    children.kill(start_holder(children, *s, false));
    EXPECT_THROW(s->lock.lock_shared(), owner_died_error);
    s->lock.unlock();

    EXPECT_THROW(s->lock.lock(), not_recoverable_error);
    EXPECT_THROW(s->lock.lock_shared(), not_recoverable_error);
    EXPECT_THROW(s->lock.try_lock_shared(), not_recoverable_error);
    EXPECT_THROW(s->lock.try_lock_for(10ms), not_recoverable_error);
    const pid_t other = children.spawn([&] {
        try {
            s->lock.lock_shared();
            return 1;
        } catch (const not_recoverable_error&) {
            return 0;
        }
    });
    EXPECT_EQ(children.wait(other), 0);
}

TEST(shared_rwlock, a_timed_out_take_over_leaves_the_repair_to_the_next_one) {
    shared_object<shared_state> s;
    child_group children;
    const pid_t reader = children.spawn([&] {
        std::shared_lock reading(s->lock);
        s->inside = 1;
        return eventually([&] { return s->go.load() == 1; }) ? 0 : 1;
    });
    ASSERT_TRUE(eventually([&] { return s->inside.load() == 1; }));
    // A writer dies while waiting for that reader: the lock is left marked.
    const pid_t writer = children.spawn([&] { return hold_until_killed(*s, false); });
    std::this_thread::sleep_for(50ms);
    children.kill(writer);
    EXPECT_FALSE(s->lock.try_lock_for(50ms)) << "the live reader still holds it";
    s->go = 1;
    EXPECT_EQ(children.wait(reader), 0);
    EXPECT_THROW(s->lock.try_lock_shared_for(5s), owner_died_error);
    s->lock.mark_consistent();
    s->lock.unlock();
    EXPECT_TRUE(s->lock.try_lock_shared());
    s->lock.unlock_shared();
}

TEST(shared_rwlock, timed_variants_time_out_and_withdraw) {
    shared_object<shared_state> s;
    child_group children;
    pid_t holder = start_holder(children, *s, true);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->lock.try_lock_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->lock.try_lock_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(since(start), 40ms);  // another clock: converted once, allow for rounding
    EXPECT_TRUE(s->lock.try_lock_shared()) << "a writer that timed out must not keep readers out";
    s->lock.unlock_shared();
    children.kill(holder);

    holder = start_holder(children, *s, false);
    EXPECT_FALSE(s->lock.try_lock_shared());
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->lock.try_lock_shared_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->lock.try_lock_shared_until(std::chrono::steady_clock::now() + 50ms));
    EXPECT_GE(since(start), 50ms);
    children.kill(holder);
    EXPECT_THROW(s->lock.lock(), owner_died_error);
    s->lock.mark_consistent();
    s->lock.unlock();
}

TEST(shared_rwlock, more_reader_processes_than_slots_are_counted_too) {
    constexpr int readers = static_cast<int>(shared_rwlock::reader_slots) + 12;
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < readers; ++c) {
        children.spawn([&] {
            std::shared_lock reading(s->lock);
            ++s->inside;
            return eventually([&] { return s->go.load() == 1; }, 15s) ? 0 : 1;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->inside.load() == readers; }, 15s));
    EXPECT_FALSE(s->lock.try_lock_for(20ms));
    s->go = 1;
    EXPECT_TRUE(children.all_succeed());
    EXPECT_TRUE(s->lock.try_lock()) << "every hold, with a slot or without, was given back";
    s->lock.unlock();
}

TEST(shared_rwlock, lives_in_a_named_segment) {
    const std::string name = unique_name("rwlock");
    shm_guard guard(name);
    named_object<shared_state> s(name);
    child_group children;
    for (int c = 0; c < 3; ++c) {
        children.spawn([&, c] {
            shared_array<std::uint8_t> mapping;
            shared_state& mine = named_object<shared_state>::attach(name, mapping);
            for (int i = 0; i < 1000; ++i) {
                if (c == 0) {
                    std::unique_lock writing(mine.lock);
                    ++mine.a;
                    ++mine.b;
                } else {
                    std::shared_lock reading(mine.lock);
                    if (mine.a.load() != mine.b.load()) return 1;
                }
            }
            return 0;
        });
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->a.load(), 1000);
}

}  // namespace
}  // namespace shmpool
