// Memory of removed arrays comes back: pool workers drop their mappings of arrays removed since
// their last call (at the start of the next one, or within 100 ms when idle), so neither they
// nor the machine grow when a program creates and removes arrays under a pool, however fast.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using test::unique_name;

constexpr std::size_t mib = std::size_t{1} << 20;

/// A "Key: value kB" field of a /proc file, in bytes; 0 when missing.
std::size_t kb_field(const std::string& path, const std::string& key) {
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
        if (line.rfind(key + ":", 0) != 0) continue;
        std::istringstream rest(line.substr(key.size() + 1));
        std::size_t kb = 0;
        rest >> kb;
        return kb * 1024;
    }
    return 0;
}

std::size_t rss_of(int pid) {
    return kb_field("/proc/" + std::to_string(pid) + "/status", "VmRSS");
}
std::size_t machine_shmem() { return kb_field("/proc/meminfo", "Shmem"); }

/// The mappings of `pid` of files removed from /dev/shm ("/dev/shm/x (deleted)").
std::vector<std::string> removed_mappings(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/maps");
    std::vector<std::string> out;
    for (std::string line; std::getline(f, line);)
        if (line.find("/dev/shm/") != std::string::npos &&
            line.find("(deleted)") != std::string::npos)
            out.push_back(line);
    return out;
}

/// Task i reads one byte of every 64 KiB of row i: the worker maps the whole row.
struct touch_row {
    shared_array<std::uint8_t> a;
    void operator()(std::size_t row) const {
        const std::size_t cols = a.shape()[1];
        const volatile std::uint8_t* p = a.data() + row * cols;
        for (std::size_t c = 0; c < cols; c += 64 * 1024) (void)p[c];
    }
};

// The experiment: a 1 GiB array created, mapped whole by the workers, and removed, 50
// times under one pool. Each worker maps half of it per round; kept mappings would add 512 MiB
// to each worker's RSS and 1 GiB to the machine's shared memory per round.
TEST(process_pool_memory, removed_1gib_arrays_do_not_accumulate_in_workers_or_the_machine) {
    constexpr std::size_t rows = 1024, cols = 1 * mib;  // 1 GiB
    const std::size_t available = kb_field("/proc/meminfo", "MemAvailable");
    if (available < 4 * rows * cols)
        GTEST_SKIP() << "needs 4 GiB of available memory, the machine has " << available / mib
                     << " MiB";
    process_pool pool(2);
    const std::vector<int> workers = pool.worker_pids();
    ASSERT_EQ(workers.size(), 2u);
    pool.for_each(0, 2, [](std::size_t) {});
    std::vector<std::size_t> rss_before;
    for (int w : workers) rss_before.push_back(rss_of(w));
    const std::size_t shmem_before = machine_shmem();

    const std::string name = unique_name("big");
    test::shm_guard guard(name);
    for (int round = 0; round < 50; ++round) {
        const auto a = shared_array<std::uint8_t>::create(name, {rows, cols}, {.populate = false});
        pool.for_each(0, rows, touch_row{a}, {.show_progress = progress::never});
        // Each worker maps its share of this array and nothing of the earlier ones.
        for (std::size_t k = 0; k < workers.size(); ++k) {
            const std::size_t rss = rss_of(workers[k]);
            ASSERT_LT(rss, rss_before[k] + 1100 * mib)
                << "round " << round << ": worker " << workers[k] << " maps "
                << (rss - rss_before[k]) / mib << " MiB more than before the first array";
            ASSERT_LE(removed_mappings(workers[k]).size(), 0u)
                << "round " << round << ": worker " << workers[k] << " still maps "
                << removed_mappings(workers[k]).front();
        }
        // The machine holds this array, not the earlier ones (1 GiB of slack for other programs).
        ASSERT_LT(machine_shmem(), shmem_before + 2 * rows * cols)
            << "round " << round << ": shared memory grew by "
            << (machine_shmem() - shmem_before) / mib << " MiB";
        shared_array<std::uint8_t>::remove(name);
    }
    // The last array is dropped at the next call...
    pool.for_each(0, 2, [](std::size_t) {});
    for (std::size_t k = 0; k < workers.size(); ++k) {
        EXPECT_TRUE(removed_mappings(workers[k]).empty()) << removed_mappings(workers[k]).front();
        EXPECT_LT(rss_of(workers[k]), rss_before[k] + 64 * mib) << "worker " << workers[k];
    }
    EXPECT_LT(machine_shmem(), shmem_before + 512 * mib);
}

// ... and by an idle worker within 100 ms, without another call.
TEST(process_pool_memory, an_idle_worker_drops_a_removed_array) {
    process_pool pool(2);
    const std::string name = unique_name("idle");
    test::shm_guard guard(name);
    const auto a = shared_array<std::uint8_t>::create(name, {64, mib});
    pool.for_each(0, 64, touch_row{a});
    for (int w : pool.worker_pids()) EXPECT_TRUE(removed_mappings(w).empty());
    shared_array<std::uint8_t>::remove(name);
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    std::size_t kept = 0;
    do {
        std::this_thread::sleep_for(20ms);
        kept = 0;
        for (int w : pool.worker_pids()) kept += removed_mappings(w).size();
    } while (kept > 0 && std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(kept, 0u) << "idle workers still map the removed array after 2 s";
}

// map() creates and removes a result buffer per call; calls back to back must not pile them up
// in the workers (they did, up to 200 per worker, while workers dropped them every 100 ms).
TEST(process_pool_memory, result_buffers_of_calls_back_to_back_do_not_pile_up) {
    process_pool pool(2);
    std::size_t most = 0;
    for (int k = 0; k < 300; ++k) {
        const auto out = pool.map(0, 64, [](std::size_t i) { return i + 1; });
        ASSERT_EQ(out.back(), 64u);
        if (k % 10 == 9)
            for (int w : pool.worker_pids()) most = std::max(most, removed_mappings(w).size());
    }
    EXPECT_LE(most, 1u) << "a worker mapped " << most << " removed result buffers at once";
}

// A process that is not a worker drops what others removed when it asks.
TEST(process_pool_memory, release_removed_arrays_unmaps_what_another_process_removed) {
    const std::string name = unique_name("released");
    test::shm_guard guard(name);
    shared_array<std::uint8_t>::create(name, {4 * mib});
    const int rc = test::run_in_child([&] {
        const auto a = shared_array<std::uint8_t>::open(name);
        (void)a.data()[0];
        if (removed_mappings(::getpid()).size() != 0) return 2;
        if (test::run_command("rm -f /dev/shm/" + name) != 0) return 3;  // another process
        if (removed_mappings(::getpid()).size() != 1) return 4;
        if (release_removed_arrays() != 1) return 5;
        if (!removed_mappings(::getpid()).empty()) return 6;
        try {
            (void)a.data();
            return 7;  // the handle must not reach an unmapped array
        } catch (const not_found_error&) {
        }
        return release_removed_arrays() == 0 ? 0 : 8;
    });
    EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace shmpool
