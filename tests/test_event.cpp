#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <type_traits>

#include "shmpool/event.hpp"
#include "sync_test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;  // sync_test_support.hpp: child_group, shared_object...

struct shared_state {
    event found;
    std::atomic<int> waiting{0};
    std::atomic<long> work[4] = {};
    long answer = 0;  // written before set(), read after
};

TEST(event, is_standard_layout_and_sets_and_clears) {
    static_assert(std::is_standard_layout_v<event>);
    event e;
    EXPECT_FALSE(e.is_set());
    e.set();
    EXPECT_TRUE(e.is_set());
    e.wait();  // returns at once
    EXPECT_TRUE(e.wait_for(0ms));
    e.set();
    EXPECT_TRUE(e.is_set());
    e.clear();
    EXPECT_FALSE(e.is_set());
    EXPECT_TRUE(event(true).is_set());
}

TEST(event, set_wakes_four_waiting_children) {
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&] {
            ++s->waiting;
            s->found.wait();
            return s->answer == 42 ? 0 : 1;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->waiting.load() == 4; }));
    std::this_thread::sleep_for(50ms);  // let them fall asleep
    const auto start = std::chrono::steady_clock::now();
    s->answer = 42;
    s->found.set();
    EXPECT_TRUE(children.all_succeed(10s));
    EXPECT_LT(since(start), 5s);
}

TEST(event, workers_polling_is_set_stop_when_it_is_set) {
    shared_object<shared_state> s;
    child_group children;
    for (int c = 0; c < 4; ++c) {
        children.spawn([&, c] {
            while (!s->found.is_set()) s->work[c].fetch_add(1, std::memory_order_relaxed);
            return 0;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->work[0] > 0 && s->work[3] > 0; }));
    s->found.set();
    EXPECT_TRUE(children.all_succeed(10s));
}

TEST(event, wait_for_times_out_when_not_set) {
    shared_object<shared_state> s;
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->found.wait_for(100ms));
    EXPECT_GE(since(start), 100ms);
    start = std::chrono::steady_clock::now();
    EXPECT_FALSE(s->found.wait_until(std::chrono::system_clock::now() + 50ms));
    EXPECT_GE(since(start), 40ms);  // another clock: converted once, allow for rounding

    child_group children;
    children.spawn([&] {
        std::this_thread::sleep_for(30ms);
        s->found.set();
        return 0;
    });
    EXPECT_TRUE(s->found.wait_for(10s));
    EXPECT_TRUE(children.all_succeed());
    s->found.clear();
    EXPECT_FALSE(s->found.wait_for(10ms)) << "cleared: waits again";
}

TEST(event, lives_in_a_named_segment) {
    const std::string name = unique_name("event");
    shm_guard guard(name);
    named_object<shared_state> s(name);
    child_group children;
    for (int c = 0; c < 2; ++c) {
        children.spawn([&] {
            shared_array<std::uint8_t> mapping;
            shared_state& mine = named_object<shared_state>::attach(name, mapping);
            ++mine.waiting;
            return mine.found.wait_for(10s) ? 0 : 1;
        });
    }
    ASSERT_TRUE(eventually([&] { return s->waiting.load() == 2; }));
    s->found.set();
    EXPECT_TRUE(children.all_succeed());
}

}  // namespace
}  // namespace shmpool
