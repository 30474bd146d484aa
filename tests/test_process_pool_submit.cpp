// Tests of process_pool::submit() and call_handle: the call runs while the submitter goes on,
// calls run whole and in submission order, get() gives the call_result or rethrows the call's
// error, cancel() stops its own call and no other, the queue's bound blocks or throws, handles
// wait when destroyed and outlive their pool, and 4 threads may submit at once.
//
// submit() starts a thread in the test process, and a pool refuses to start in a process that
// runs threads: every test runs in a child (test::run_in_child) and reports its failures
// through its exit code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "pool_test_support.hpp"
#include "shmpool/call_handle.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

// A shared flag: tasks wait for it (polling call_cancelled(), so that a cancel still stops
// them), the test raises it.
struct gate {
    counter_array flag{1};
    shared_array<std::int32_t> a = flag.array;
    void open() const { std::atomic_ref<std::int32_t>(a.data()[0]).store(1); }
};

struct wait_at_gate {
    shared_array<std::int32_t> gate_flag;
    shared_array<std::int32_t> hits;
    void operator()(std::size_t i) const {
        while (std::atomic_ref<std::int32_t>(gate_flag.data()[0]).load() == 0 && !call_cancelled())
            std::this_thread::sleep_for(1ms);
        if (!call_cancelled()) hits.view()(i) += 1;
    }
};

std::size_t sum_of(const counter_array& c, std::size_t n) {
    std::size_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<std::size_t>(c[i]);
    return s;
}

TEST(process_pool_submit, returns_before_the_call_ends_and_get_gives_its_result) {
    run_test_in_child([] {
        process_pool pool(2);
        gate g;
        counter_array hits(100);
        call_handle h = pool.submit(0, 100, wait_at_gate{g.a, hits.array});
        EXPECT_TRUE(h.valid());
        EXPECT_FALSE(h.wait_for(50ms)) << "the call cannot end before the gate opens";
        EXPECT_FALSE(h.done());
        g.open();
        const call_result r = h.get();
        EXPECT_EQ(r.completed, 100u);
        EXPECT_FALSE(r.cancelled);
        EXPECT_FALSE(h.valid()) << "get() empties the handle";
        for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(hits[i], 1) << i;
    });
}

// Each call records, at its index 0, how many calls had started before it.
struct record_order {
    shared_array<std::int32_t> order;
    shared_array<std::int32_t> hits;
    std::size_t call;
    void operator()(std::size_t i) const {
        if (i == 0) {
            const std::int32_t seen = std::atomic_ref<std::int32_t>(order.data()[0]).fetch_add(1);
            order.view()(1 + call) = seen;
        }
        std::atomic_ref<std::int32_t>(hits.data()[call]).fetch_add(1);
    }
};

TEST(process_pool_submit, calls_run_whole_and_in_submission_order) {
    run_test_in_child([] {
        process_pool pool(3);
        constexpr std::size_t calls = 20, n = 2000;
        counter_array order(1 + calls), hits(calls);
        std::vector<call_handle> handles;
        for (std::size_t k = 0; k < calls; ++k)
            handles.push_back(
                pool.submit(0, n, record_order{order.array, hits.array, k}, {.chunk = 16}));
        for (std::size_t k = 0; k < calls; ++k) {
            EXPECT_EQ(handles[k].get().completed, n);
            EXPECT_EQ(hits[k], static_cast<std::int32_t>(n)) << "call " << k;
            EXPECT_EQ(order[1 + k], static_cast<std::int32_t>(k)) << "call " << k;
        }
    });
}

TEST(process_pool_submit, get_rethrows_the_tasks_error_and_the_pool_goes_on) {
    run_test_in_child([] {
        process_pool pool(2);
        call_handle bad = pool.submit(0, 100, [](std::size_t i) {
            if (i == 37) throw std::runtime_error("row 37 is bad");
        });
        try {
            bad.get();
            ADD_FAILURE() << "get() should have thrown";
        } catch (const worker_error& e) {
            EXPECT_EQ(e.index(), 37u);
            EXPECT_NE(std::string(e.what()).find("row 37 is bad"), std::string::npos) << e.what();
        }
        counter_array hits(50);
        EXPECT_EQ(pool.submit(0, 50, [h = hits.array](std::size_t i) { h.view()(i) += 1; })
                      .get()
                      .completed,
                  50u);
        EXPECT_EQ(sum_of(hits, 50), 50u);
    });
}

TEST(process_pool_submit, cancel_stops_its_own_call_and_no_other) {
    run_test_in_child([] {
        process_pool pool(2);
        gate g;
        counter_array first_hits(100), queued_hits(100), running_hits(10000);
        call_handle first = pool.submit(0, 100, wait_at_gate{g.a, first_hits.array});
        call_handle queued =
            pool.submit(0, 100, [h = queued_hits.array](std::size_t i) { h.view()(i) += 1; });
        queued.cancel();  // queued behind `first`: never starts, `first` goes on
        g.open();
        EXPECT_EQ(first.get().completed, 100u);
        const call_result q = queued.get();
        EXPECT_TRUE(q.cancelled);
        EXPECT_EQ(q.completed, 0u);
        EXPECT_EQ(sum_of(queued_hits, 100), 0u);

        gate closed;  // never opened: only a cancel ends this call
        call_handle running =
            pool.submit(0, 10000, wait_at_gate{closed.a, running_hits.array}, {.chunk = 1});
        std::this_thread::sleep_for(50ms);
        EXPECT_FALSE(running.done());
        running.cancel();
        ASSERT_TRUE(running.wait_for(10s)) << "cancel() did not stop the running call";
        const call_result r = running.get();
        EXPECT_TRUE(r.cancelled);
        EXPECT_LT(r.completed, 10000u);
        EXPECT_EQ(pool.for_each(0, 10, [](std::size_t) {}).completed, 10u)
            << "the next call runs in full";
    });
}

TEST(process_pool_submit, a_full_queue_throws_when_asked_to) {
    run_test_in_child([] {
        process_pool pool(2, {.max_queued = 2, .queue_full = when_queue_full::throw_error});
        gate g;
        counter_array hits(10);
        std::vector<call_handle> handles;
        handles.push_back(pool.submit(0, 10, wait_at_gate{g.a, hits.array}));
        while (pool.worker_pids().empty()) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(50ms);  // the first call has left the queue: it runs
        handles.push_back(pool.submit(0, 10, wait_at_gate{g.a, hits.array}));
        handles.push_back(pool.submit(0, 10, wait_at_gate{g.a, hits.array}));
        try {
            (void)pool.submit(0, 10, wait_at_gate{g.a, hits.array});
            ADD_FAILURE() << "a third queued call should be refused";
        } catch (const queue_full_error& e) {
            EXPECT_NE(std::string(e.what()).find("max_queued"), std::string::npos) << e.what();
        }
        g.open();
        for (call_handle& h : handles) EXPECT_EQ(h.get().completed, 10u);
        EXPECT_EQ(sum_of(hits, 10), 30u);
    });
}

TEST(process_pool_submit, a_full_queue_blocks_the_submitter_until_a_call_starts) {
    run_test_in_child([] {
        process_pool pool(2, {.max_queued = 1});
        gate g;
        counter_array hits(10);
        call_handle running = pool.submit(0, 10, wait_at_gate{g.a, hits.array});
        std::this_thread::sleep_for(50ms);
        call_handle queued = pool.submit(0, 10, wait_at_gate{g.a, hits.array});
        std::atomic<bool> submitted{false};
        call_handle blocked;
        std::thread submitter([&] {
            blocked = pool.submit(0, 10, wait_at_gate{g.a, hits.array});
            submitted = true;
        });
        std::this_thread::sleep_for(200ms);
        EXPECT_FALSE(submitted.load()) << "submit() should wait while the queue is full";
        g.open();
        submitter.join();
        EXPECT_TRUE(submitted.load());
        for (call_handle* h : {&running, &queued, &blocked}) EXPECT_EQ(h->get().completed, 10u);
    });
}

TEST(process_pool_submit, four_threads_submit_at_once) {
    run_test_in_child([] {
        process_pool pool(2);
        constexpr std::size_t threads = 4, per_thread = 25, n = 1000;
        counter_array hits(threads * per_thread * n);
        const shared_array<std::int32_t> h = hits.array;
        std::vector<std::thread> submitters;
        std::atomic<std::size_t> completed{0};
        for (std::size_t t = 0; t < threads; ++t) {
            submitters.emplace_back([&, t] {
                std::vector<call_handle> mine;
                for (std::size_t k = 0; k < per_thread; ++k) {
                    const std::size_t base = (t * per_thread + k) * n;
                    mine.push_back(
                        pool.submit(base, base + n, [h](std::size_t i) { h.view()(i) += 1; }));
                }
                for (call_handle& c : mine) completed += c.get().completed;
            });
        }
        for (std::thread& s : submitters) s.join();
        EXPECT_EQ(completed.load(), threads * per_thread * n);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < threads * per_thread * n; ++i) wrong += hits[i] != 1;
        EXPECT_EQ(wrong, 0u) << "indices that did not run exactly once";
    });
}

TEST(process_pool_submit, a_handle_destroyed_early_waits_for_its_call) {
    run_test_in_child([] {
        process_pool pool(2);
        counter_array hits(200);
        {
            call_handle h = pool.submit(0, 200, [h = hits.array](std::size_t i) {
                std::this_thread::sleep_for(1ms);
                h.view()(i) += 1;
            });
        }
        EXPECT_EQ(sum_of(hits, 200), 200u) << "the destructor returned before the call ended";
    });
}

TEST(process_pool_submit, handles_outlive_their_pool_as_cancelled_calls) {
    run_test_in_child([] {
        gate closed;
        counter_array hits(1000);
        call_handle running, queued;
        {
            process_pool pool(2);
            running = pool.submit(0, 1000, wait_at_gate{closed.a, hits.array}, {.chunk = 1});
            queued = pool.submit(0, 1000, wait_at_gate{closed.a, hits.array});
            std::this_thread::sleep_for(50ms);
        }  // the pool's destructor cancels both
        ASSERT_TRUE(running.done());
        ASSERT_TRUE(queued.done());
        EXPECT_TRUE(running.get().cancelled);
        const call_result q = queued.get();
        EXPECT_TRUE(q.cancelled);
        EXPECT_EQ(q.completed, 0u);
    });
}

TEST(process_pool_submit, its_thread_ends_with_the_queue_so_a_new_pool_may_start) {
    run_test_in_child([] {
        process_pool pool(2);
        counter_array hits(100);
        for (int round = 0; round < 3; ++round) {
            EXPECT_EQ(pool.submit(0, 100, [h = hits.array](std::size_t i) { h.view()(i) += 1; })
                          .get()
                          .completed,
                      100u);
            // The queue is empty: its thread ends, and a pool (which refuses to start in a
            // multi-threaded process) may be constructed again.
            EXPECT_NO_THROW(process_pool(1)) << "round " << round;
        }
        for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(hits[i], 3) << i;
    });
}

TEST(process_pool_submit, an_empty_handle_says_so) {
    call_handle h;
    EXPECT_FALSE(h.valid());
    EXPECT_FALSE(h.done());
    h.cancel();  // no effect
    EXPECT_THROW(h.wait(), error);
    try {
        h.get();
        ADD_FAILURE() << "get() on an empty handle should throw";
    } catch (const error& e) {
        EXPECT_NE(std::string(e.what()).find("holds no call"), std::string::npos) << e.what();
    }
}

TEST(process_pool_submit, the_checked_form_copies_its_arguments_at_submit) {
    run_test_in_child([] {
        process_pool pool(2);
        gate g;
        counter_array out(4);
        std::vector<std::int32_t> weights{5, 6, 7, 8};
        call_handle h = pool.submit(
            0, 4,
            [](std::size_t i, std::span<const std::int32_t> w, shared_array<std::int32_t> o,
               shared_array<std::int32_t> flag) {
                while (std::atomic_ref<std::int32_t>(flag.data()[0]).load() == 0)
                    std::this_thread::sleep_for(1ms);
                o.view()(i) = w[i];
            },
            with(weights, out.array, g.a));
        weights.assign({0, 0, 0, 0});  // after submit(): the call keeps its own copy
        weights.shrink_to_fit();
        g.open();
        EXPECT_EQ(h.get().completed, 4u);
        for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(out[i], static_cast<std::int32_t>(5 + i));
    });
}

}  // namespace
}  // namespace shmpool
