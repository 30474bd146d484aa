#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <type_traits>

#include "shmpool/robust_mutex.hpp"
#include "sync_test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;  // sync_test_support.hpp: child_group, shared_object...

/// What the tests share: the mutex, data it protects, and flags between the processes.
struct shared_state {
    robust_mutex mutex;
    long counter = 0;  // protected by mutex
    std::atomic<int> held{0};
    std::atomic<int> release{0};
};

/// A child body that locks and then dies holding the mutex: by _exit(), or, with
/// `wait_for_kill`, by waiting to be SIGKILLed.
int lock_and_die(shared_state& s, bool wait_for_kill) {
    s.mutex.lock();
    s.held = 1;
    if (wait_for_kill) {
        for (;;) ::pause();
    }
    ::_exit(0);
}

/// Makes the mutex's owner die holding it; returns once the death is done.
void kill_owner(child_group& children, shared_state& s, bool by_signal) {
    const pid_t pid = children.spawn([&] { return lock_and_die(s, by_signal); });
    ASSERT_TRUE(eventually([&] { return s.held.load() == 1; }));
    if (by_signal) {
        children.kill(pid);
    } else {
        EXPECT_EQ(children.wait(pid), 0);
    }
}

TEST(robust_mutex, is_standard_layout_and_works_with_std_guards) {
    static_assert(std::is_standard_layout_v<robust_mutex>);
    static_assert(!std::is_copy_constructible_v<robust_mutex>);
    shared_object<shared_state> s;
    child_group children;
    {
        std::scoped_lock held(s->mutex);
        const pid_t probe = children.spawn([&] { return s->mutex.try_lock() ? 1 : 0; });
        EXPECT_EQ(children.wait(probe), 0);
    }
    std::unique_lock held(s->mutex, 100ms);
    EXPECT_TRUE(held.owns_lock());
}

TEST(robust_mutex, excludes_across_four_processes) {
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&] {
            for (int i = 0; i < 10000; ++i) {
                robust_lock held(s->mutex);
                const long seen = s->counter;
                if (i % 1000 == 0) std::this_thread::yield();  // widen the window for a race
                s->counter = seen + 1;
            }
            return 0;
        });
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->counter, 40000);
}

TEST(robust_mutex, relocking_from_the_holder_throws_instead_of_deadlocking) {
    shared_object<shared_state> s;
    s->mutex.lock();
    EXPECT_THROW(s->mutex.lock(), system_error);
    s->mutex.unlock();
    EXPECT_TRUE(s->mutex.try_lock());
    s->mutex.unlock();
}

class robust_mutex_owner_death : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(robust_mutex, robust_mutex_owner_death, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "sigkill" : "exit"; });

TEST_P(robust_mutex_owner_death, next_locker_holds_it_and_gets_owner_died_error) {
    shared_object<shared_state> s;
    child_group children;
    kill_owner(children, *s, GetParam());

    EXPECT_THROW(s->mutex.lock(), owner_died_error);
    // The parent holds it now: another process cannot take it.
    const pid_t probe = children.spawn([&] { return s->mutex.try_lock() ? 1 : 0; });
    EXPECT_EQ(children.wait(probe), 0) << "the mutex must be held after owner_died_error";

    s->counter = 7;  // "repair"
    s->mutex.mark_consistent();
    s->mutex.unlock();

    const pid_t user = children.spawn([&] {
        if (!s->mutex.try_lock_for(5s)) return 1;
        ++s->counter;
        s->mutex.unlock();
        return 0;
    });
    EXPECT_EQ(children.wait(user), 0);
    robust_lock held(s->mutex);
    EXPECT_FALSE(held.owner_died());
    EXPECT_EQ(s->counter, 8);
}

TEST(robust_mutex, a_process_blocked_in_lock_is_woken_by_the_owners_death) {
    shared_object<shared_state> s;
    child_group children;
    const pid_t owner = children.spawn([&] { return lock_and_die(*s, true); });
    ASSERT_TRUE(eventually([&] { return s->held.load() == 1; }));
    const pid_t waiter = children.spawn([&] {
        try {
            s->mutex.lock();
            return 2;  // the owner's death went unnoticed
        } catch (const owner_died_error&) {
            s->mutex.mark_consistent();
            s->mutex.unlock();
            return 0;
        }
    });
    std::this_thread::sleep_for(50ms);  // let it block
    children.kill(owner);
    EXPECT_EQ(children.wait(waiter, 10s), 0);
    EXPECT_TRUE(s->mutex.try_lock());
    s->mutex.unlock();
}

TEST(robust_mutex, unlock_without_mark_consistent_makes_it_not_recoverable) {
    shared_object<shared_state> s;
    child_group children;
    kill_owner(children, *s, true);
    EXPECT_THROW(s->mutex.try_lock(), owner_died_error);
    s->mutex.unlock();

    EXPECT_THROW(s->mutex.lock(), not_recoverable_error);
    EXPECT_THROW(s->mutex.try_lock(), not_recoverable_error);
    EXPECT_THROW(s->mutex.try_lock_for(10ms), not_recoverable_error);
    EXPECT_THROW(robust_lock{s->mutex}, not_recoverable_error);
    const pid_t other = children.spawn([&] {
        try {
            s->mutex.lock();
            return 1;
        } catch (const not_recoverable_error&) {
            return 0;
        }
    });
    EXPECT_EQ(children.wait(other), 0);
}

TEST(robust_mutex, mark_consistent_outside_owner_death_is_refused) {
    shared_object<shared_state> s;
    s->mutex.lock();
    EXPECT_THROW(s->mutex.mark_consistent(), system_error);
    s->mutex.unlock();
}

TEST(robust_lock, records_owner_death_instead_of_throwing) {
    shared_object<shared_state> s;
    child_group children;
    kill_owner(children, *s, true);
    {
        robust_lock held(s->mutex);
        EXPECT_TRUE(held.owns_lock());
        EXPECT_TRUE(held.owner_died());
        held.mark_consistent();
        EXPECT_FALSE(held.owner_died());
    }
    robust_lock again(s->mutex, std::try_to_lock);
    EXPECT_TRUE(again.owns_lock());
    EXPECT_FALSE(again.owner_died());
}

TEST(robust_lock, destroyed_without_mark_consistent_leaves_the_mutex_not_recoverable) {
    shared_object<shared_state> s;
    child_group children;
    kill_owner(children, *s, false);
    {
        robust_lock held(s->mutex);
        EXPECT_TRUE(held.owner_died());
    }
    EXPECT_THROW(robust_lock{s->mutex}, not_recoverable_error);
}

TEST(robust_lock, moves_defers_adopts_and_releases) {
    shared_object<shared_state> s;
    robust_lock deferred(s->mutex, std::defer_lock);
    EXPECT_FALSE(deferred.owns_lock());
    EXPECT_TRUE(deferred.try_lock_for(10ms));
    robust_lock moved(std::move(deferred));
    EXPECT_TRUE(moved.owns_lock());
    EXPECT_FALSE(deferred.owns_lock());
    EXPECT_THROW(deferred.unlock(), system_error);
    robust_mutex* m = moved.release();
    robust_lock adopted(*m, std::adopt_lock);
    EXPECT_TRUE(adopted);
    adopted.unlock();
    EXPECT_FALSE(adopted.owns_lock());
}

TEST(robust_mutex, timed_variants_time_out_while_another_process_holds_it) {
    shared_object<shared_state> s;
    child_group children;
    children.spawn([&] {
        robust_lock held(s->mutex);
        s->held = 1;
        return eventually([&] { return s->release.load() == 1; }) ? 0 : 1;
    });
    ASSERT_TRUE(eventually([&] { return s->held.load() == 1; }));

    EXPECT_FALSE(s->mutex.try_lock());
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->mutex.try_lock_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->mutex.try_lock_until(std::chrono::steady_clock::now() + 50ms));
    EXPECT_GE(since(start), 50ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->mutex.try_lock_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(since(start), 40ms);  // another clock: converted once, allow for rounding
    start = std::chrono::steady_clock::now();
    robust_lock timed(s->mutex, 50ms);
    EXPECT_FALSE(timed.owns_lock());
    EXPECT_GE(since(start), 50ms);

    s->release = 1;
    EXPECT_TRUE(s->mutex.try_lock_for(10s));
    s->mutex.unlock();
    EXPECT_TRUE(children.all_succeed());
}

TEST(robust_mutex, lives_in_a_named_segment) {
    const std::string name = unique_name("robust_mutex");
    shm_guard guard(name);
    named_object<shared_state> s(name);
    child_group children;
    for (int c = 0; c < 3; ++c) {
        children.spawn([&] {
            shared_array<std::uint8_t> mapping;
            shared_state& mine = named_object<shared_state>::attach(name, mapping);
            for (int i = 0; i < 2000; ++i) {
                robust_lock held(mine.mutex);
                ++mine.counter;
            }
            return 0;
        });
    }
    EXPECT_TRUE(children.all_succeed());
    EXPECT_EQ(s->counter, 6000);

    kill_owner(children, *s, true);
    robust_lock held(s->mutex);
    EXPECT_TRUE(held.owner_died());
    held.mark_consistent();
}

}  // namespace
}  // namespace shmpool
