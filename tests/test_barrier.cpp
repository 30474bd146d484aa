#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <type_traits>

#include "shmpool/barrier.hpp"
#include "shmpool/error.hpp"
#include "sync_test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;  // sync_test_support.hpp: child_group, shared_object...

struct shared_state {
    explicit shared_state(std::uint32_t parties) : gate(parties) {}
    barrier gate;
    std::atomic<int> round[4] = {};  // the round each party has reached
    std::atomic<int> arrived{0};
};

/// Party `me` of 4 passes `rounds` rounds; returns 0 if no one was ever ahead or behind.
int run_rounds(shared_state& s, int me, int rounds) {
    for (int r = 1; r <= rounds; ++r) {
        s.round[me].store(r);
        if (!s.gate.arrive_and_wait_for(10s)) return 1;
        for (const std::atomic<int>& other : s.round) {
            // Everyone has reached round r, and none can be past r + 1 before we arrive again.
            const int theirs = other.load();
            if (theirs < r || theirs > r + 1) return 2;
        }
    }
    return 0;
}

TEST(barrier, is_standard_layout_and_refuses_zero_parties) {
    static_assert(std::is_standard_layout_v<barrier>);
    EXPECT_THROW(barrier(0), invalid_argument_error);
    EXPECT_THROW(barrier(barrier::max_parties + 1), invalid_argument_error);
    barrier alone(1);
    EXPECT_EQ(alone.parties(), 1u);
    for (int i = 0; i < 3; ++i) alone.arrive_and_wait();  // a single party never waits
    EXPECT_TRUE(alone.arrive_and_wait_for(0ms));
}

TEST(barrier, four_processes_pass_100_rounds_together) {
    shared_object<shared_state> s(4u);
    child_group children;
    for (int me = 0; me < 4; ++me) {
        children.spawn([&, me] { return run_rounds(*s, me, 100); });
    }
    EXPECT_TRUE(children.all_succeed());
    for (const std::atomic<int>& r : s->round) EXPECT_EQ(r.load(), 100);
}

TEST(barrier, a_timed_out_arrival_is_withdrawn) {
    shared_object<shared_state> s(2u);
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->gate.arrive_and_wait_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->gate.arrive_and_wait_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(since(start), 40ms);  // another clock: converted once, allow for rounding

    // Had the arrivals stayed, this one alone would complete the round.
    child_group children;
    const pid_t lone = children.spawn([&] { return s->gate.arrive_and_wait_for(50ms) ? 1 : 0; });
    EXPECT_EQ(children.wait(lone), 0);

    children.spawn([&] {
        ++s->arrived;
        return s->gate.arrive_and_wait_for(10s) ? 0 : 1;
    });
    ASSERT_TRUE(eventually([&] { return s->arrived.load() == 1; }));
    std::this_thread::sleep_for(20ms);  // let it wait
    EXPECT_TRUE(s->gate.arrive_and_wait_for(10s));
    EXPECT_TRUE(children.all_succeed());
}

TEST(barrier, lives_in_a_named_segment) {
    const std::string name = unique_name("barrier");
    shm_guard guard(name);
    named_object<shared_state> s(name, 4u);
    child_group children;
    for (int me = 1; me < 4; ++me) {
        children.spawn([&, me] {
            shared_array<std::uint8_t> mapping;
            return run_rounds(named_object<shared_state>::attach(name, mapping), me, 20);
        });
    }
    EXPECT_EQ(run_rounds(*s, 0, 20), 0);
    EXPECT_TRUE(children.all_succeed());
}

}  // namespace
}  // namespace shmpool
