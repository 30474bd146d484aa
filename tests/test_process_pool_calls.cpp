// Tests of shmpool::process_pool calls that succeed: for_each runs every index exactly once
// (every schedule, every kind of range), the workers persist across calls and are not the
// parent, arrays created after the pool started reach the workers, map() and imap() return the
// results in index order, and tasks with trivially copyable captures compile.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "pool_test_support.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace test;

// --- 1. every index exactly once ---------------------------------------------------------

TEST(process_pool, for_each_runs_every_index_exactly_once) {
    process_pool pool(3);
    const std::vector<call_options> schedules = {
        {.kind = schedule::dynamic},
        {.kind = schedule::dynamic, .chunk = 1},
        {.kind = schedule::dynamic, .chunk = 7},
        {.kind = schedule::static_},
        {.kind = schedule::static_, .chunk = 7},
    };
    struct range {
        std::size_t first, last;
    };
    const std::vector<range> ranges = {
        {0, 1000},   // the common case
        {37, 1000},  // first > 0
        {0, 2},      // fewer indices than workers
        {10, 11},    // a single index, not at 0
        {5, 7},      // two indices, not at 0
        {0, 3},      // as many as the workers
        {0, 4},      // one more
    };
    for (const call_options& o : schedules) {
        for (const range& r : ranges) {
            SCOPED_TRACE(describe(o) + " [" + std::to_string(r.first) + ", " +
                         std::to_string(r.last) + ")");
            expect_exactly_once(pool, r.first, r.last, o, r.last + 5);
        }
    }
}

TEST(process_pool, an_empty_range_runs_nothing_and_completes_zero) {
    process_pool pool(2);
    for (const call_options& o :
         {call_options{.kind = schedule::dynamic}, call_options{.kind = schedule::static_}}) {
        SCOPED_TRACE(describe(o));
        expect_exactly_once(pool, 5, 5, o, 10);
        expect_exactly_once(pool, 0, 0, o, 10);
    }
    // And the pool still works afterwards.
    expect_exactly_once(pool, 0, 100, {}, 100);
}

TEST(process_pool, many_small_calls_back_to_back) {
    process_pool pool(3);
    counter_array count(64);
    const shared_array<std::int32_t> c = count.array;
    for (int call = 0; call < 200; ++call) {
        const call_result r = pool.for_each(0, 64, [c](std::size_t i) { c.view()(i) += 1; });
        ASSERT_EQ(r.completed, 64u) << "call " << call;
    }
    for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ(count[i], 200) << "index " << i;
}

// --- 2. persistent workers ----------------------------------------------------------------

TEST(process_pool, workers_persist_across_calls_and_are_not_the_parent) {
    process_pool pool(3);
    EXPECT_EQ(pool.size(), 3u);
    const std::vector<int> before = pool.worker_pids();
    ASSERT_EQ(before.size(), 3u);
    const std::set<int> workers(before.begin(), before.end());
    EXPECT_EQ(workers.size(), 3u) << "the worker PIDs are distinct";
    EXPECT_EQ(workers.count(::getpid()), 0u);

    counter_array pid_of(300);
    const shared_array<std::int32_t> p = pid_of.array;
    std::set<int> seen_in_call[2];
    for (int call = 0; call < 2; ++call) {
        pid_of.zero();
        const call_result r = pool.for_each(
            0, 300, [p](std::size_t i) { p.view()(i) = static_cast<std::int32_t>(::getpid()); },
            {.chunk = 1});
        EXPECT_EQ(r.completed, 300u);
        for (std::size_t i = 0; i < 300; ++i) seen_in_call[call].insert(pid_of[i]);
        for (int pid : seen_in_call[call]) {
            EXPECT_NE(pid, ::getpid()) << "call " << call << ": a task ran in the parent";
            EXPECT_NE(pid, 0) << "call " << call << ": an index did not run";
            EXPECT_EQ(workers.count(pid), 1u)
                << "call " << call << ": PID " << pid << " is not one of the pool's workers";
        }
        const std::vector<int> now = pool.worker_pids();
        EXPECT_EQ(std::set<int>(now.begin(), now.end()), workers)
            << "the workers changed after call " << call;
    }
}

TEST(process_pool, default_size_is_usable_cores) {
    const std::size_t cores = process_pool::usable_cores();
    EXPECT_GE(cores, 1u);
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    EXPECT_EQ(cores, static_cast<std::size_t>(CPU_COUNT(&set)));
    process_pool pool;
    EXPECT_EQ(pool.size(), cores);
    EXPECT_EQ(pool.worker_pids().size(), cores);
}

// --- 3. arrays made after the pool started -------------------------------------------------

TEST(process_pool, an_array_created_after_the_pool_is_reachable_from_workers) {
    process_pool pool(3);
    const std::string name = unique_name("late");
    shm_guard guard(name);
    auto late = shared_array<double>::create(name, {50, 4});
    const call_result r = pool.for_each(0, 50, [late](std::size_t i) {
        for (std::size_t j = 0; j < 4; ++j) late.view()(i, j) = static_cast<double>(i * 10 + j);
    });
    EXPECT_EQ(r.completed, 50u);
    for (std::size_t i = 0; i < 50; ++i)
        for (std::size_t j = 0; j < 4; ++j)
            EXPECT_EQ(late.view()(i, j), static_cast<double>(i * 10 + j)) << i << "," << j;

    // A second one, created between two calls, with the first one still in use.
    const std::string name2 = unique_name("later");
    shm_guard guard2(name2);
    auto later = shared_array<std::int64_t>::create(name2, {50});
    pool.for_each(0, 50, [late, later](std::size_t i) {
        later.view()(i) = static_cast<std::int64_t>(late.view()(i, 3)) + 1;
    });
    for (std::size_t i = 0; i < 50; ++i)
        EXPECT_EQ(later.view()(i), static_cast<std::int64_t>(i * 10 + 4)) << i;
    shared_array<std::int64_t>::remove(name2);
    shared_array<double>::remove(name);
}

// --- map and imap ------------------------------------------------------------------------

/// The result buffers map() and imap() made in this process that are still in /dev/shm.
std::vector<std::string> result_buffers_left() {
    const std::string mine = "shmpool-results-" + std::to_string(::getpid()) + "-";
    std::vector<std::string> left;
    for (const std::string& n : test::shm_listing())
        if (n.rfind(mine, 0) == 0) left.push_back(n);
    return left;
}

TEST(process_pool, map_returns_the_results_in_index_order) {
    process_pool pool(3);
    const std::vector<std::int64_t> squares =
        pool.map(5, 505, [](std::size_t i) { return static_cast<std::int64_t>(i * i); });
    ASSERT_EQ(squares.size(), 500u);
    for (std::size_t k = 0; k < 500; ++k)
        ASSERT_EQ(squares[k], static_cast<std::int64_t>((k + 5) * (k + 5))) << "index " << k + 5;

    struct point {
        std::int32_t pid;
        double half;
    };
    const auto points = pool.map(
        0, 100,
        [](std::size_t i) {
            return point{static_cast<std::int32_t>(::getpid()), static_cast<double>(i) / 2};
        },
        {.kind = schedule::static_});
    ASSERT_EQ(points.size(), 100u);
    const std::vector<int> workers = pool.worker_pids();
    for (std::size_t i = 0; i < 100; ++i) {
        EXPECT_EQ(points[i].half, static_cast<double>(i) / 2) << i;
        EXPECT_NE(std::find(workers.begin(), workers.end(), points[i].pid), workers.end()) << i;
    }

    EXPECT_TRUE(pool.map(7, 7, [](std::size_t i) { return i; }).empty());
    EXPECT_THROW(pool.map(0, 50,
                          [](std::size_t i) {
                              if (i == 20) throw std::runtime_error("no result");
                              return i;
                          }),
                 worker_error);
    EXPECT_EQ(result_buffers_left(), std::vector<std::string>{})
        << "map() left its result buffer in /dev/shm";
}

TEST(process_pool, imap_yields_every_result_in_order_window_by_window) {
    process_pool pool(3);
    std::vector<std::uint64_t> got;
    for (const std::uint64_t v : pool.imap(
             10, 1010, [](std::size_t i) { return std::uint64_t{3} * i + 1; }, 64))
        got.push_back(v);
    ASSERT_EQ(got.size(), 1000u);
    for (std::size_t k = 0; k < 1000; ++k) ASSERT_EQ(got[k], 3 * (k + 10) + 1) << k + 10;

    std::size_t n = 0;
    for (const std::size_t v : pool.imap(
             4, 4, [](std::size_t i) { return i; }, 8))
        n += v + 1;
    EXPECT_EQ(n, 0u) << "an empty range yields nothing";

    std::vector<std::size_t> one;  // default window
    for (const std::size_t v : pool.imap(0, 3, [](std::size_t i) { return i * 2; }))
        one.push_back(v);
    EXPECT_EQ(one, (std::vector<std::size_t>{0, 2, 4}));
    EXPECT_EQ(result_buffers_left(), std::vector<std::string>{})
        << "imap() left its result buffer in /dev/shm";
}

// --- 13. compile-time check (the failing half is a ctest test: tests/compile_fail/) ---------

TEST(process_pool, trivially_copyable_captures_compile) {
    const std::string name = unique_name("ok");
    shm_guard guard(name);
    auto a = shared_array<double>::create(name, {4});
    struct plain {
        int x;
        double y;
    };
    const plain p{2, 0.5};
    const std::array<int, 3> arr{1, 2, 3};
    process_pool pool(2);
    pool.for_each(0, 4, [a, p, arr](std::size_t i) { a.view()(i) = p.x * p.y + arr[i % 3]; });
    EXPECT_EQ(a.view()(0), 2.0);
    EXPECT_EQ(a.view()(1), 3.0);
    EXPECT_EQ(a.view()(3), 2.0);
    shared_array<double>::remove(name);
}

// --- rows, pairs and tuples ----------------------------------------------------------------

TEST(process_pool, for_each_row_runs_every_row_once_and_map_rows_returns_them_in_order) {
    process_pool pool(3);
    const std::string name = unique_name("rows");
    shm_guard guard(name);
    auto grid = shared_array<std::int32_t>::create(name, {50, 7});
    const call_result r = pool.for_each_row(grid, [grid](std::size_t row) {
        for (std::size_t c = 0; c < 7; ++c)
            grid.data()[row * 7 + c] += static_cast<std::int32_t>(row);
    });
    EXPECT_EQ(r.completed, 50u);
    for (std::size_t row = 0; row < 50; ++row)
        for (std::size_t c = 0; c < 7; ++c) ASSERT_EQ(grid.data()[row * 7 + c], row) << row;
    const std::vector<std::int64_t> sums = pool.map_rows(grid, [grid](std::size_t row) {
        std::int64_t s = 0;
        for (std::size_t c = 0; c < 7; ++c) s += grid.data()[row * 7 + c];
        return s;
    });
    ASSERT_EQ(sums.size(), 50u);
    for (std::size_t row = 0; row < 50; ++row)
        EXPECT_EQ(sums[row], 7 * static_cast<std::int64_t>(row));
    shared_array<std::int32_t>::remove(name);
}

TEST(process_pool, map_returns_pairs_and_tuples) {
    process_pool pool(2);
    const auto pairs =
        pool.map(0, 100, [](std::size_t i) { return std::pair<int, double>(int(i), i * 0.5); });
    const auto tuples = pool.map(0, 100, [](std::size_t i) {
        return std::tuple<std::uint8_t, std::int64_t, float>(std::uint8_t(i), -std::int64_t(i),
                                                             i * 2.0f);
    });
    for (std::size_t i = 0; i < 100; ++i) {
        ASSERT_EQ(pairs[i], (std::pair<int, double>(int(i), i * 0.5)));
        ASSERT_EQ(tuples[i], (std::tuple<std::uint8_t, std::int64_t, float>(
                                 std::uint8_t(i), -std::int64_t(i), i * 2.0f)));
    }
    std::size_t n = 0;
    for (const auto& [a, b] : pool.imap(
             0, 1000, [](std::size_t i) { return std::pair<long, long>(long(i), long(i * i)); },
             64)) {
        ASSERT_EQ(a, long(n));
        ASSERT_EQ(b, long(n * n));
        ++n;
    }
    EXPECT_EQ(n, 1000u);
}

}  // namespace
}  // namespace shmpool
