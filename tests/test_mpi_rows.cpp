// Tests of shmpool::mpi::for_each_row and shmpool::mpi::map (mpi/rows.hpp), under mpirun over
// simulated hosts (see test_mpi.cpp): each row on its host, results in row order, a task's
// exception and a dead worker reported on every rank, random SIGKILLs of workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "mpi/mpi_test_support.hpp"
#include "shmpool/mpi.hpp"

namespace shmpool::mpi {
namespace {

using test::unique;

cluster& c() { return test::the_cluster(); }

// Column 0: the row written; column 1: the PID of the worker; column 2: its host.
TEST(for_each_row, runs_each_row_once_on_its_host_in_the_host_s_workers) {
    const std::size_t rows = 4099;
    auto a = row_array<long>::create(c(), unique("fill"), {rows, 3});
    const int host = c().host();
    const call_result r = for_each_row(c(), a, [a, host](std::size_t row) {
        auto v = a.row(row);
        v(0) += static_cast<long>(row) + 1;  // += : a row run twice would show
        v(1) = ::getpid();
        v(2) = host;
    });
    EXPECT_EQ(r.completed, rows) << "the completed rows of every rank, summed";
    EXPECT_FALSE(r.cancelled);
    // Worker PIDs of every rank, by host, to check who wrote what.
    std::vector<long> pids;
    for (int p : c().pool().worker_pids()) pids.push_back(p);
    const auto pids_of_rank = gather(c(), pids);
    const auto hosts_of_rank = gather(c(), c().host());
    const xt::xarray<long> all = gather(c(), a);
    if (c().rank() != 0) return;
    std::map<long, int> host_of_pid;
    for (std::size_t k = 0; k < pids_of_rank.size(); ++k)
        for (long p : pids_of_rank[k]) host_of_pid[p] = hosts_of_rank[k];
    ASSERT_EQ(all.shape()[0], rows);
    std::map<long, std::size_t> rows_of_pid;
    for (std::size_t row = 0; row < rows; ++row) {
        ASSERT_EQ(all(row, 0), static_cast<long>(row) + 1) << "row " << row << " ran "
                                                           << (all(row, 0) ? "twice" : "never");
        ASSERT_TRUE(host_of_pid.count(all(row, 1))) << "row " << row << ": not a pool worker";
        EXPECT_EQ(host_of_pid[all(row, 1)], all(row, 2)) << "row " << row;
        ++rows_of_pid[all(row, 1)];
    }
    EXPECT_GE(rows_of_pid.size(), static_cast<std::size_t>(c().hosts()));
}

TEST(map, returns_every_row_s_result_on_rank_0_in_row_order) {
    const std::size_t rows = 777;
    auto a = row_array<int>::create(c(), unique("map"), {rows, 1});
    const std::vector<std::pair<std::size_t, int>> out = map(c(), a, [a](std::size_t row) {
        return std::pair<std::size_t, int>{row * row, static_cast<int>(a.local(row))};
    });
    if (c().rank() != 0) {
        EXPECT_TRUE(out.empty());
        return;
    }
    ASSERT_EQ(out.size(), rows);
    for (std::size_t row = 0; row < rows; ++row) ASSERT_EQ(out[row].first, row * row);
}

TEST(for_each_row, a_task_s_exception_reaches_every_rank_with_its_row_host_and_rank) {
    const std::size_t rows = 300, bad = rows - 7;  // on the last host
    auto a = row_array<int>::create(c(), unique("throws"), {rows, 1});
    try {
        for_each_row(c(), a, [bad](std::size_t row) {
            if (row == bad) throw std::runtime_error("row " + std::to_string(row) + " is bad");
        });
        ADD_FAILURE() << "for_each_row returned although a task threw";
    } catch (const cluster_error& e) {
        ASSERT_TRUE(e.row().has_value()) << e.what();
        EXPECT_EQ(*e.row(), bad);
        EXPECT_EQ(e.host(), c().hosts() - 1);
        EXPECT_EQ(e.rank(), c().size() - 1) << "the last rank holds the last rows";
        EXPECT_EQ(e.error_type(), "shmpool::worker_error");
        EXPECT_NE(std::string(e.what()).find("is bad"), std::string::npos) << e.what();
        EXPECT_EQ(e.failed_ranks(), 1);
    }
    // The cluster stays usable.
    EXPECT_EQ(for_each_row(c(), a, [a](std::size_t row) { a.row(row)(0) = 1; }).completed, rows);
}

TEST(for_each_row, a_dead_worker_is_retried_or_reported_on_every_rank) {
    const std::size_t rows = 200, victim = 0;  // on host 0, rank 0
    auto marks = row_array<int>::create(c(), unique("marks"), {rows, 1});
    const auto kill_once = [marks, victim](std::size_t row) {
        if (row == victim && marks.row(row)(0)++ == 0) ::raise(SIGKILL);
    };
    const call_result r = for_each_row(c(), marks, kill_once, {.retries = 1});
    EXPECT_EQ(r.workers_died, 1u);
    EXPECT_EQ(r.completed, rows);
    try {  // every time: no retries left
        for_each_row(c(), marks, [victim](std::size_t row) {
            if (row == victim) ::raise(SIGKILL);
        });
        ADD_FAILURE() << "for_each_row returned although a worker died on row " << victim;
    } catch (const cluster_error& e) {
        EXPECT_EQ(e.error_type(), "shmpool::worker_died_error") << e.what();
        EXPECT_EQ(e.rank(), 0);
        ASSERT_TRUE(e.row().has_value());
        EXPECT_EQ(*e.row(), victim);
    }
}

// Random SIGKILLs of this rank's workers during many calls: each call either runs every row
// exactly once per call (retries) or throws the same error on every rank; never a hang.
TEST(for_each_row, survives_random_sigkills_of_workers_over_many_calls) {
    const std::size_t rows = 64, calls = 1000;
    auto counts = row_array<long>::create(c(), unique("kills"), {rows, 1});
    std::atomic<bool> stop{false};
    std::thread killer([&] {
        std::mt19937 rng(static_cast<unsigned>(::getpid()));
        while (!stop.load()) {
            std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 3000));
            const std::vector<int> pids = c().pool().worker_pids();
            if (!pids.empty()) ::kill(pids[rng() % pids.size()], SIGKILL);
        }
    });
    std::size_t failed = 0, deaths = 0;
    long expected = 0;
    for (std::size_t k = 0; k < calls; ++k) {
        try {
            const call_result r = for_each_row(c(), counts, [counts](std::size_t row) {
                std::this_thread::sleep_for(std::chrono::microseconds(20));
                counts.row(row)(0) += 1;
            }, {.retries = 1000});
            deaths += r.workers_died;  // of every rank
            ++expected;
        } catch (const cluster_error& e) {  // not expected with 1000 retries; agreed all the same
            ++failed;
            ADD_FAILURE() << e.what();
            break;
        }
    }
    stop = true;
    killer.join();
    EXPECT_EQ(failed, 0u);
    EXPECT_GT(deaths, 0u) << "no worker was killed during a call: the test proved nothing";
    std::printf("[rank %d] %zu calls, %zu worker deaths during them (all ranks)\n", c().rank(),
                calls, deaths);
    // A row whose worker died mid-increment may count one more (call_result::rerun): the count
    // is at least the calls, and at most the calls plus the deaths.
    const xt::xarray<long> all = gather(c(), counts);
    if (c().rank() != 0) return;
    for (std::size_t row = 0; row < rows; ++row) ASSERT_GE(all(row, 0), expected) << row;
}

}  // namespace
}  // namespace shmpool::mpi
