// Tests of process_pool::imap as a stream: results in order through a ring of slots reused
// many times (each result carries a checksum of its index), workers running ahead of the
// consumer but never more than the ring, a range destroyed early stopping its work, a task's
// exception and a worker's death reaching the consumer at their index after every earlier
// result, and cancel() ending the iteration.
//
// imap submits its windows through submit()'s thread: the tests run in a child
// (test::run_in_child), as a pool refuses to start in a process that runs threads.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

using block = std::array<std::uint64_t, 8>;

// A shared flag a task waits for.
struct gate_flag {
    counter_array flag{1};
    shared_array<std::int32_t> a = flag.array;
    void open() const { std::atomic_ref<std::int32_t>(a.data()[0]).store(1); }
};

block block_of(std::size_t i) {
    block b{};
    std::uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t k = 0; k + 1 < b.size(); ++k) b[k] = x = x * 6364136223846793005ull + k;
    b.back() = i;
    return b;
}

TEST(process_pool_stream, results_come_in_order_through_a_small_ring_reused_many_times) {
    run_test_in_child([] {
        process_pool pool(2);
        std::size_t i = 0, wrong = 0;
        for (const block& b :
             pool.imap(0, 100000, [](std::size_t k) { return block_of(k); }, 64, {.chunk = 3})) {
            if (b != block_of(i) && ++wrong <= 3) ADD_FAILURE() << "result " << i << " is wrong";
            ++i;
        }
        EXPECT_EQ(i, 100000u);
        EXPECT_EQ(wrong, 0u);
    });
}

// The size of the stream's ring in /dev/shm (shmpool-results-PID-*), 0 when there is none.
std::size_t ring_bytes_in_dev_shm() {
    const std::string prefix = "shmpool-results-" + std::to_string(::getpid()) + "-";
    std::size_t bytes = 0;
    DIR* d = ::opendir("/dev/shm");
    if (!d) return 0;
    while (const dirent* e = ::readdir(d)) {
        if (std::string(e->d_name).rfind(prefix, 0) != 0) continue;
        struct stat st {};
        if (::stat(("/dev/shm/" + std::string(e->d_name)).c_str(), &st) == 0)
            bytes += static_cast<std::size_t>(st.st_size);
    }
    ::closedir(d);
    return bytes;
}

TEST(process_pool_stream, workers_run_ahead_but_never_beyond_the_ring) {
    run_test_in_child([] {
        process_pool pool(2);
        counter_array produced(1);
        const shared_array<std::int32_t> p = produced.array;
        constexpr std::size_t ring = 256;
        auto range = pool.imap(
            0, 1'000'000,
            [p](std::size_t k) {
                std::atomic_ref<std::int32_t>(p.data()[0]).fetch_add(1);
                return k;
            },
            ring);
        auto it = range.begin();
        EXPECT_EQ(*it, 0u);
        // The consumer holds result 0: the workers fill the rest of the ring, and stop there.
        const auto deadline = clock_type::now() + 10s;
        while (produced[0] < static_cast<std::int32_t>(ring) && clock_type::now() < deadline)
            std::this_thread::sleep_for(1ms);
        EXPECT_EQ(produced[0], static_cast<std::int32_t>(ring)) << "did not run ahead";
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(produced[0], static_cast<std::int32_t>(ring)) << "ran beyond the ring";
        // Memory stays flat: the ring is all there is, whatever the length of the range.
        EXPECT_GT(ring_bytes_in_dev_shm(), 0u);
        EXPECT_LT(ring_bytes_in_dev_shm(), 64u * 1024u);
        std::size_t expected = 1;
        for (++it; expected < 5000; ++it, ++expected) ASSERT_EQ(*it, expected);
    });
}

TEST(process_pool_stream, destroying_a_range_early_stops_its_work_and_the_pool_goes_on) {
    run_test_in_child([] {
        process_pool pool(2);
        counter_array ran(1);
        const shared_array<std::int32_t> r = ran.array;
        {
            std::size_t seen = 0;
            for (std::size_t v : pool.imap(
                     0, 1'000'000'000,
                     [r](std::size_t k) {
                         std::this_thread::sleep_for(100us);
                         std::atomic_ref<std::int32_t>(r.data()[0]).fetch_add(1);
                         return k;
                     },
                     1000)) {
                ASSERT_EQ(v, seen);
                if (++seen == 10) break;  // the range is destroyed here
            }
        }
        const std::int32_t after_stop = ran[0];
        EXPECT_LE(after_stop, 1000 + 2) << "work ran beyond the ring";
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(ran[0], after_stop) << "work went on after the range was destroyed";
        EXPECT_EQ(pool.for_each(0, 100, [](std::size_t) {}).completed, 100u);
        EXPECT_NO_THROW(process_pool(1)) << "the range's thread should be gone";
    });
}

TEST(process_pool_stream, a_tasks_exception_comes_at_its_index_after_every_earlier_result) {
    run_test_in_child([] {
        process_pool pool(3);
        for (std::size_t chunk : {1u, 7u, 0u}) {
            std::size_t next = 0;
            try {
                for (std::size_t v : pool.imap(0, 20000,
                                               [](std::size_t k) {
                                                   if (k == 4321)
                                                       throw std::runtime_error("bad item 4321");
                                                   return k * 3;
                                               },
                                               512, {.chunk = chunk})) {
                    ASSERT_EQ(v, next * 3) << "chunk " << chunk;
                    ++next;
                }
                ADD_FAILURE() << "chunk " << chunk << ": no exception";
            } catch (const worker_error& e) {
                EXPECT_EQ(e.index(), 4321u) << "chunk " << chunk;
                EXPECT_EQ(next, 4321u) << "chunk " << chunk << ": results before the error";
            }
        }
        EXPECT_EQ(pool.for_each(0, 100, [](std::size_t) {}).completed, 100u);
    });
}

// The task SIGKILLs its own worker at index `at`, once (the shared flag says it happened).
struct die_once {
    shared_array<std::int32_t> died;
    std::size_t at;
    std::size_t operator()(std::size_t k) const {
        if (k == at && std::atomic_ref<std::int32_t>(died.data()[0]).exchange(1) == 0) {
            no_core_dump();
            ::kill(::getpid(), SIGKILL);
        }
        return k + 1;
    }
};

TEST(process_pool_stream, a_dead_worker_is_reported_at_its_index_or_retried) {
    run_test_in_child([] {
        process_pool pool(2);
        counter_array died(1);
        std::size_t next = 0;
        try {
            for (std::size_t v : pool.imap(0, 5000, die_once{died.array, 3000}, 256))
                ASSERT_EQ(v, ++next);
            ADD_FAILURE() << "no worker_died_error";
        } catch (const worker_died_error& e) {
            EXPECT_EQ(e.first_lost(), 3000u) << e.what();
            EXPECT_EQ(next, 3000u) << "results before the lost index";
        }
        died.zero();
        next = 0;
        for (std::size_t v : pool.imap(0, 5000, die_once{died.array, 3000}, 256, {.retries = 2}))
            ASSERT_EQ(v, ++next);
        EXPECT_EQ(next, 5000u);
        EXPECT_EQ(died[0], 1) << "the worker did not die: the test tests nothing";
    });
}

TEST(process_pool_stream, cancel_call_ends_the_iteration) {
    run_test_in_child([] {
        process_pool pool(2);
        std::size_t n = 0;
        for (std::size_t v : pool.imap(0, 1'000'000,
                                       [](std::size_t k) {
                                           if (k == 2000) cancel_call();
                                           return k;
                                       },
                                       100, {.chunk = 1})) {
            ASSERT_EQ(v, n);
            ++n;
        }
        EXPECT_LT(n, 1'000'000u);
        EXPECT_LE(n, 2001u);
        EXPECT_EQ(pool.for_each(0, 100, [](std::size_t) {}).completed, 100u);
    });
}

// --- imap_unordered ------------------------------------------------------------------------

TEST(process_pool_stream, unordered_yields_every_index_once_with_its_result) {
    run_test_in_child([] {
        process_pool pool(3);
        constexpr std::size_t n = 50000;
        std::vector<int> seen(n, 0);
        std::size_t count = 0, out_of_order = 0, last = 0;
        for (const auto& [i, b] : pool.imap_unordered(
                 0, n, [](std::size_t k) { return block_of(k); }, 128)) {
            ASSERT_LT(i, n);
            ASSERT_EQ(b, block_of(i)) << "result of " << i;
            ++seen[i];
            out_of_order += count > 0 && i < last;
            last = i;
            ++count;
        }
        EXPECT_EQ(count, n);
        EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(n));
        std::fprintf(stderr, "unordered: %zu of %zu results came before a lower index\n",
                     out_of_order, n);
    });
}

TEST(process_pool_stream, unordered_does_not_wait_for_a_slow_index) {
    run_test_in_child([] {
        process_pool pool(2);
        gate_flag slow;
        std::size_t before_slow = 0;
        bool slow_seen = false;
        for (const auto& [i, v] : pool.imap_unordered(
                 0, 64,
                 [g = slow.a](std::size_t k) {
                     if (k == 0)  // index 0 waits until the consumer saw others
                         while (std::atomic_ref<std::int32_t>(g.data()[0]).load() == 0)
                             std::this_thread::sleep_for(1ms);
                     return k;
                 },
                 64, {.chunk = 1})) {
            EXPECT_EQ(v, i);
            if (i == 0) {
                slow_seen = true;
            } else if (!slow_seen && ++before_slow == 10) {
                slow.open();
            }
        }
        EXPECT_TRUE(slow_seen);
        EXPECT_GE(before_slow, 10u) << "results waited behind the slow index 0";
    });
}

TEST(process_pool_stream, unordered_delivers_what_completed_then_the_error) {
    run_test_in_child([] {
        process_pool pool(2);
        std::vector<int> seen(3000, 0);
        try {
            for (const auto& [i, v] :
                 pool.imap_unordered(0, 3000,
                                     [](std::size_t k) {
                                         if (k == 1234) throw std::runtime_error("bad 1234");
                                         return k;
                                     },
                                     3000, {.chunk = 5})) {
                ASSERT_EQ(v, i);
                ++seen[i];
            }
            ADD_FAILURE() << "no exception";
        } catch (const worker_error& e) {
            EXPECT_EQ(e.index(), 1234u);
        }
        for (std::size_t i = 0; i < 1234; ++i) EXPECT_EQ(seen[i], 1) << i;
        EXPECT_EQ(seen[1234], 0);
    });
}

// --- imap_blocks ---------------------------------------------------------------------------

TEST(process_pool_stream, blocks_are_written_and_read_in_place_in_order) {
    run_test_in_child([] {
        process_pool pool(2);
        std::size_t n = 0;
        auto range = pool.imap_blocks<float>(
            0, 300, {32, 16},
            [](std::size_t i, shmpool::block_out<float>& out) {
                for (std::size_t r = 0; r < 32; ++r)
                    for (std::size_t c = 0; c < 16; ++c)
                        out(r, c) = static_cast<float>(i * 1000 + r * 16 + c);
            },
            8);
        for (const auto& img : range) {
            ASSERT_EQ(img.dimension(), 2u);
            ASSERT_EQ(img.shape()[0], 32u);
            ASSERT_EQ(img.shape()[1], 16u);
            EXPECT_EQ(range.index(), n);
            for (std::size_t r = 0; r < 32; ++r)
                for (std::size_t c = 0; c < 16; ++c)
                    ASSERT_EQ(img(r, c), static_cast<float>(n * 1000 + r * 16 + c))
                        << "block " << n << " (" << r << ", " << c << ")";
            ++n;
        }
        EXPECT_EQ(n, 300u);
    });
}

TEST(process_pool_stream, a_bad_block_shape_is_refused_with_the_shape) {
    run_test_in_child([] {
        process_pool pool(1);
        const auto fill = [](std::size_t, shmpool::block_out<double>& out) { out.fill(1); };
        for (const std::vector<std::size_t>& bad :
             {std::vector<std::size_t>{}, std::vector<std::size_t>{4, 0},
              std::vector<std::size_t>(9, 2)}) {
            try {
                (void)pool.imap_blocks<double>(0, 10, bad, fill);
                ADD_FAILURE() << "accepted a bad shape";
            } catch (const invalid_argument_error& e) {
                EXPECT_NE(std::string(e.what()).find("block shape ("), std::string::npos)
                    << e.what();
            }
        }
    });
}

}  // namespace
}  // namespace shmpool
