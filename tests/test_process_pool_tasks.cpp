// Tests of tasks that carry data safely: the checked form (a captureless function, arguments
// given to shmpool::with(...) and copied for the call), and the debug builds' warning about a
// task that captures by reference. CMake builds this file as a debug build is (-O0, no NDEBUG)
// whatever the preset.

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::shm_guard;
using test::unique_name;

struct params {
    double scale;
    int offset;
};

// Arguments made after the pool started, so that its workers have no copy of them: only the
// copies the call makes can reach them.
TEST(process_pool_tasks, arguments_made_after_the_pool_reach_the_workers_as_copies) {
    process_pool pool(2);
    const std::string name = unique_name("out");
    shm_guard guard(name);
    auto out = shared_array<double>::create(name, {100});
    std::vector<double> weights(100);
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = 0.5 * static_cast<double>(i);
    const std::string label = "run-42";
    const call_result r = pool.for_each(
        0, 100,
        [](std::size_t i, std::span<const double> w, std::string_view tag, params p,
           shared_array<double> o) {
            if (tag != "run-42" || w.size() != 100) throw std::runtime_error("bad arguments");
            o.data()[i] = w[i] * p.scale + p.offset;
        },
        with(weights, label, params{2.0, 1}, out));
    EXPECT_EQ(r.completed, 100u);
    for (std::size_t i = 0; i < 100; ++i) ASSERT_EQ(out.data()[i], weights[i] * 2.0 + 1) << i;
    shared_array<double>::remove(name);
}

TEST(process_pool_tasks, spans_literals_and_map_in_the_checked_form) {
    process_pool pool(2);
    const std::vector<std::int64_t> data{3, 1, 4, 1, 5, 9, 2, 6};
    const std::span<const std::int64_t> view(data);
    const auto squares = pool.map(
        0, data.size(),
        [](std::size_t i, std::span<const std::int64_t> d, std::string_view unit) {
            return std::pair<std::int64_t, std::size_t>(d[i] * d[i], unit.size());
        },
        with(view, "cm"));
    ASSERT_EQ(squares.size(), data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
        EXPECT_EQ(squares[i].first, data[i] * data[i]);
        EXPECT_EQ(squares[i].second, 2u);
    }
    // No argument that needs a buffer: numbers only.
    const auto sums = pool.map(
        0, 10, [](std::size_t i, int a) { return int(i) + a; }, with(5));
    EXPECT_EQ(sums.back(), 14);
}

TEST(process_pool_tasks, a_function_pointer_is_a_checked_task_too) {
    process_pool pool(2);
    struct fns {
        static long twice(std::size_t i, long k) { return static_cast<long>(i) * k; }
    };
    const auto r = pool.map(0, 5, &fns::twice, with(2L));
    EXPECT_EQ(r, (std::vector<long>{0, 2, 4, 6, 8}));
}

// The debug check: a capture by reference holds an address on this thread's stack.
TEST(process_pool_tasks, debug_builds_warn_once_of_a_task_that_captures_by_reference) {
    process_pool pool(2);
    const std::string name = unique_name("byref");
    shm_guard guard(name);
    auto out = shared_array<double>::create(name, {4});
    double scale = 2.0;
    const auto by_reference = [&scale, out](std::size_t i) {
        out.data()[i] = scale * static_cast<double>(i);
    };
    for (int k = 0; k < 2; ++k) {
        testing::internal::CaptureStderr();
        pool.for_each(0, 4, by_reference);
        const std::string said = testing::internal::GetCapturedStderr();
        if (k == 0) {
            EXPECT_NE(said.find("capture by reference"), std::string::npos) << said;
            EXPECT_NE(said.find("shmpool::with"), std::string::npos) << said;
        } else {
            EXPECT_EQ(said, "") << "warned twice for one task type";
        }
    }
    // By value says nothing: numbers and shared_array handles hold no stack address.
    testing::internal::CaptureStderr();
    pool.for_each(0, 4,
                  [scale, out](std::size_t i) { out.data()[i] = scale * static_cast<double>(i); });
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
    EXPECT_EQ(out.data()[3], 6.0);
    shared_array<double>::remove(name);
}

}  // namespace
}  // namespace shmpool
