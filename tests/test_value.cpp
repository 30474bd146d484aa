#include "shmpool/value.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_guard;
using test::unique_name;

// Runs `body` in `n` children at once; true if all exit 0.
bool in_children(int n, const std::function<int()>& body) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::alarm(60);
            ::_exit(body());
        }
        pids.push_back(pid);
    }
    bool ok = true;
    for (pid_t pid : pids) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return ok;
}

TEST(value, handles_are_trivially_copyable) {
    static_assert(std::is_trivially_copyable_v<value<int>>);
    static_assert(std::is_trivially_copyable_v<raw_value<double>>);
    static_assert(std::is_trivially_copyable_v<value_array<int>>);
    static_assert(std::is_trivially_copyable_v<raw_array<long>>);
    SUCCEED();
}

TEST(value, create_open_load_store) {
    const std::string name = unique_name("value");
    shm_guard guard(name);
    auto v = value<int>::create(name, 41);
    EXPECT_EQ(v.load(), 41);
    v.store(42);
    EXPECT_EQ(value<int>::open(name).load(), 42);
    EXPECT_EQ(v.name(), name);
    {
        auto g = v.lock();
        EXPECT_FALSE(g.owner_died());
        *g += 1;
    }
    EXPECT_EQ(v.with_lock([](int& x) { return x * 2; }), 86);
    value<int>::remove(name);
    EXPECT_FALSE(test::shm_exists(name));
}

TEST(value, increments_under_its_lock_are_exact_across_processes) {
    const std::string name = unique_name("counter");
    shm_guard guard(name);
    auto counter = value<long>::create(name, 0);
    EXPECT_TRUE(in_children(4, [&] {
        for (int i = 0; i < 5000; ++i) counter.with_lock([](long& x) { ++x; });
        return 0;
    }));
    EXPECT_EQ(counter.load(), 4 * 5000);
    value<long>::remove(name);
}

TEST(value, load_then_store_is_not_atomic_but_never_corrupts) {
    const std::string name = unique_name("racy");
    shm_guard guard(name);
    auto counter = value<long>::create(name, 0);
    EXPECT_TRUE(in_children(4, [&] {
        for (int i = 0; i < 5000; ++i) counter.store(counter.load() + 1);
        return 0;
    }));
    const long total = counter.load();
    EXPECT_GE(total, 5000);  // each process's own increments at least, minus none of its own
    EXPECT_LE(total, 4 * 5000);
    value<long>::remove(name);
}

TEST(value, the_next_locker_learns_that_the_owner_died) {
    const std::string name = unique_name("dead");
    shm_guard guard(name);
    auto v = value<int>::create(name, 7);
    EXPECT_EQ(run_in_child([&] {
                  auto g = v.lock();
                  *g = -1;     // half-way through an update...
                  ::_exit(0);  // ...and gone, holding the lock
                  return 0;
              }),
              0);
    {
        auto g = v.lock();
        EXPECT_TRUE(g.owner_died());
        EXPECT_EQ(*g, -1);
        *g = 7;  // repaired
        g.mark_consistent();
    }
    EXPECT_EQ(v.load(), 7) << "usable again after mark_consistent()";
    value<int>::remove(name);
}

TEST(value, with_lock_refuses_to_run_over_a_dead_owners_data) {
    const std::string name = unique_name("dead2");
    shm_guard guard(name);
    auto v = value<int>::create(name, 7);
    EXPECT_EQ(run_in_child([&] {
                  auto g = v.lock();
                  ::_exit(0);
                  return 0;
              }),
              0);
    EXPECT_THROW(v.with_lock([](int& x) { ++x; }), owner_died_error);
    EXPECT_THROW(v.load(), not_recoverable_error) << "left not recoverable, as documented";
    value<int>::remove(name);
}

TEST(value, the_lock_has_a_timed_variant) {
    const std::string name = unique_name("timed");
    shm_guard guard(name);
    auto v = value<int>::create(name, 1);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t holder = ::fork();
    if (holder == 0) {
        auto g = v.lock();
        char c = 'x';
        (void)::write(pipe_fds[1], &c, 1);
        ::sleep(30);  // killed by the test
        ::_exit(0);
    }
    char c;
    ASSERT_EQ(::read(pipe_fds[0], &c, 1), 1);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(v.try_lock_for(std::chrono::milliseconds(50)).has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(45));
    ::kill(holder, SIGKILL);
    ::waitpid(holder, nullptr, 0);
    auto g = v.try_lock_for(std::chrono::seconds(5));
    ASSERT_TRUE(g.has_value());
    EXPECT_TRUE(g->owner_died()) << "the holder was killed holding it";
    g->mark_consistent();
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
}

TEST(value, open_checks_the_kind_and_the_type) {
    const std::string v_name = unique_name("v"), r_name = unique_name("r");
    const std::string a_name = unique_name("a");
    shm_guard g1(v_name), g2(r_name), g3(a_name);
    value<int>::create(v_name, 1);
    raw_value<int>::create(r_name, 1);
    shared_array<double>::create(a_name, {4});
    EXPECT_THROW(value<double>::open(v_name), type_mismatch_error);
    EXPECT_THROW(raw_value<int>::open(v_name), type_mismatch_error);
    EXPECT_THROW(value<int>::open(r_name), type_mismatch_error);
    EXPECT_THROW(value<int>::open(a_name), type_mismatch_error) << "an array of float64";
    EXPECT_THROW(value<int>::open(unique_name("none")), not_found_error);
    value<int>::remove(v_name);
    raw_value<int>::remove(r_name);
    shared_array<double>::remove(a_name);
}

TEST(raw_value, fetch_add_is_atomic_across_processes) {
    const std::string name = unique_name("raw");
    shm_guard guard(name);
    auto counter = raw_value<std::int64_t>::create(name, 0);
    static_assert(raw_value<std::int64_t>::is_atomic);
    EXPECT_TRUE(in_children(4, [&] {
        for (int i = 0; i < 20000; ++i) counter.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }));
    EXPECT_EQ(counter.load(), 4 * 20000);
    std::int64_t expected = 80000;
    EXPECT_TRUE(counter.compare_exchange(expected, 5));
    EXPECT_FALSE(counter.compare_exchange(expected, 6));
    EXPECT_EQ(expected, 5);
    EXPECT_EQ(counter.exchange(9), 5);
    EXPECT_EQ(counter.fetch_sub(4), 9);
    EXPECT_EQ(*counter.data(), 5);
    raw_value<std::int64_t>::remove(name);
}

TEST(raw_value, large_types_have_plain_load_and_store_only) {
    using big = std::array<double, 8>;
    static_assert(!raw_value<big>::is_atomic);
    const std::string name = unique_name("big");
    shm_guard guard(name);
    raw_value<big>::create(name, big{1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_EQ(raw_value<big>::open(name).load()[7], 8.0);
    raw_value<big>::remove(name);
}

TEST(value_array, one_lock_over_all_elements) {
    const std::string name = unique_name("varr");
    shm_guard guard(name);
    auto counts = value_array<int>::create(name, 8, 0);
    EXPECT_EQ(counts.size(), 8u);
    EXPECT_TRUE(in_children(4, [&] {
        for (int i = 0; i < 1000; ++i) {
            auto g = counts.lock();
            for (int& c : *g) ++c;
        }
        return 0;
    }));
    auto g = counts.lock();
    for (int c : *g) EXPECT_EQ(c, 4000);
    EXPECT_THROW(value_array<int>::create(unique_name("zero"), 0), invalid_argument_error);
}

TEST(raw_array, elements_are_atomic_in_pool_tasks) {
    const std::string name = unique_name("rarr");
    shm_guard guard(name);
    process_pool pool(2);
    auto hits = raw_array<std::uint32_t>::create(name, 16, 0);
    pool.for_each(0, 16000, [hits](std::size_t i) { hits[i % 16].fetch_add(1); });
    for (std::size_t i = 0; i < hits.size(); ++i) EXPECT_EQ(hits.data()[i], 1000u);
    raw_array<std::uint32_t>::remove(name);
}

TEST(value, captured_by_a_pool_task_made_after_the_pool) {
    const std::string name = unique_name("pooled");
    shm_guard guard(name);
    process_pool pool(2);
    auto total = value<long>::create(name, 0);
    pool.for_each(0, 1000, [total](std::size_t i) {
        total.with_lock([&](long& x) { x += static_cast<long>(i); });
    });
    EXPECT_EQ(total.load(), 999L * 1000 / 2);
    value<long>::remove(name);
}

}  // namespace
}  // namespace shmpool
