// Tests of shmpool::process_pool and threads: the constructor refuses to fork in a
// multi-threaded process unless allowed, starts once create()'s populating threads are gone, and
// tasks may use OpenMP inside the workers. The one pool test binary that links OpenMP.
//
// Run directly, this binary runs its tests in one process: whatever starts a thread (OpenMP)
// runs inside test::run_in_child, so that the next test can still construct a pool.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "os.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

// --- 10. fork and threads ----------------------------------------------------------------

std::size_t threads_here() { return detail::threads_of_this_process(); }

TEST(process_pool, refuses_to_start_in_a_multithreaded_process_unless_allowed) {
    const std::string name = unique_name("threads");
    shm_guard guard(name);
    auto out = shared_array<std::int32_t>::create(name, {8});
    const int rc = run_in_child(
        [out] {
            omp_set_num_threads(2);
            int team = 0;
#pragma omp parallel
            {
#pragma omp single
                team = omp_get_num_threads();
            }
            if (team < 2 || threads_here() < 2) {
                std::fprintf(stderr, "no OpenMP threads: team %d, threads %zu\n", team,
                             threads_here());
                return 2;
            }
            try {
                process_pool pool(2);
                std::fprintf(stderr, "the pool started in a multi-threaded process\n");
                return 3;
            } catch (const invalid_argument_error& e) {
                std::fprintf(stderr, "wrong exception type: %s\n", e.what());
                return 4;
            } catch (const error& e) {
                const std::string what = e.what();
                if (what.find("threads") == std::string::npos ||
                    what.find("before") == std::string::npos) {
                    std::fprintf(stderr, "message does not say what to do: %s\n", e.what());
                    return 5;
                }
            }
            process_pool pool(2, {.allow_threads = true});
            if (pool.worker_pids().size() != 2) return 6;
            const call_result r = pool.for_each(
                0, 8, [out](std::size_t i) { out.view()(i) = static_cast<std::int32_t>(i) + 1; });
            if (r.completed != 8) return 7;
            return 0;
        },
        20s);
    EXPECT_EQ(rc, 0) << "see the child's message on stderr";
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(out.view()(i), static_cast<int>(i) + 1) << i;
    shared_array<std::int32_t>::remove(name);
}

TEST(process_pool, starts_right_after_an_array_was_populated_by_helper_threads) {
    // create() populates a large array from short-lived threads; once it returns the process
    // is single-threaded again and a pool may start without allow_threads.
    const int rc = run_in_child(
        [] {
            const std::string name = unique_name("after_populate");
            shm_guard guard(name);
            auto a = shared_array<std::uint8_t>::create(name, {std::size_t{256} << 20});
            try {
                process_pool pool(2);
                const call_result r = pool.for_each(0, 4, [a](std::size_t i) { a.data()[i] = 1; });
                return r.completed == 4 && a.data()[3] == 1 ? 0 : 2;
            } catch (const error& e) {
                std::fprintf(stderr, "the pool refused to start: %s\n", e.what());
                return 3;
            }
        },
        30s);
    EXPECT_EQ(rc, 0) << "see the child's message on stderr";
}

TEST(process_pool, tasks_may_use_openmp_inside_the_workers) {
    ASSERT_EQ(threads_here(), 1u) << "this test process must stay single-threaded";
    const std::string name = unique_name("omp");
    shm_guard guard(name);
    auto out = shared_array<std::int64_t>::create(name, {16, 2});
    const int rc = run_in_child(
        [out] {
            process_pool pool(2);
            const call_result r = pool.for_each(0, 16,
                                                [out](std::size_t i) {
                                                    std::int64_t sum = 0;
                                                    int team = 0;
#pragma omp parallel for reduction(+ : sum) num_threads(2)
                                                    for (int k = 0; k < 1000; ++k) {
                                                        if (k == 0) team = omp_get_num_threads();
                                                        sum += k + static_cast<std::int64_t>(i);
                                                    }
                                                    out.view()(i, 0) = sum;
                                                    out.view()(i, 1) = team;
                                                },
                                                {.chunk = 1});
            return r.completed == 16 ? 0 : 2;
        },
        20s);
    EXPECT_EQ(rc, 0) << "-1: the OpenMP task hung in a worker";
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(out.view()(i, 0), 499500 + 1000 * static_cast<std::int64_t>(i)) << i;
        EXPECT_EQ(out.view()(i, 1), 2) << "index " << i << " ran without an OpenMP team";
    }
    shared_array<std::int64_t>::remove(name);
}

}  // namespace
}  // namespace shmpool
