// Tests of shmpool::managed_heap: Boost containers shared by processes, the heap in the catalog,
// and a writer killed while it held a lock (the writers' lock, or Boost's allocator lock in
// 200 random SIGKILLs): the heap is then refused with heap_broken_error, never a hang.
#include "shmpool/managed_heap.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <random>

#include "shmpool/catalog.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

namespace bip = boost::interprocess;
using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

using shm_string =
    bip::basic_string<char, std::char_traits<char>, managed_heap::allocator<char>>;
using shm_map = bip::map<shm_string, double, std::less<>,
                         managed_heap::allocator<std::pair<const shm_string, double>>>;

shm_map& prices(const managed_heap& heap) {
    return heap.find_or_construct<shm_map>("prices", std::less<>(),
                                           heap.get_allocator<std::pair<const shm_string, double>>());
}

TEST(managed_heap, boost_containers_are_shared_between_processes) {
    const std::string name = unique_name("heap");
    shm_guard guard(name);
    const managed_heap heap = managed_heap::create(name, 1 << 20);
    EXPECT_GE(heap.size(), 1u << 20);
    {
        auto held = heap.lock();
        shm_map& m = prices(heap);
        for (int i = 0; i < 100; ++i) {
            char key[16];
            std::snprintf(key, sizeof key, "k%d", i);
            m.emplace(shm_string(key, heap.get_allocator<char>()), i * 0.5);
        }
    }
    const int rc = run_in_child([&] {
        const managed_heap h = managed_heap::open(name);
        auto held = h.lock();
        shm_map* m = h.find<shm_map>("prices");
        if (!m || m->size() != 100) return 1;
        const auto it = m->find(std::string_view("k42"));  // no string built in the heap
        if (it == m->end() || it->second != 21.0) return 2;
        m->emplace(shm_string("from child", h.get_allocator<char>()), -1.0);
        return 0;
    });
    ASSERT_EQ(rc, 0);
    EXPECT_EQ(prices(heap).size(), 101u);
    EXPECT_LT(heap.free_bytes(), heap.size());
    const array_info info = describe_array(name);
    EXPECT_EQ(info.kind, "heap");
    EXPECT_EQ(info.type, "shmpool::managed_heap");
    EXPECT_THROW(managed_heap::create(name, 1 << 20), already_exists_error);
    EXPECT_THROW(managed_heap::create(unique_name("tiny"), 1000), invalid_argument_error);
    managed_heap::remove(name);
    EXPECT_FALSE(shm_exists(name));
}

TEST(managed_heap, a_writer_killed_holding_the_lock_breaks_the_heap_for_every_process) {
    const std::string name = unique_name("heap_died");
    shm_guard guard(name);
    const managed_heap heap = managed_heap::create(name, 1 << 20);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto held = managed_heap::open(name).lock();
        ::raise(SIGKILL);
    }
    ::waitpid(child, nullptr, 0);
    try {
        heap.lock();
        ADD_FAILURE() << "the lock of a dead writer was taken as if nothing happened";
    } catch (const heap_broken_error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_TRUE(heap.broken());
    EXPECT_THROW(heap.manager(), heap_broken_error);
    EXPECT_EQ(run_in_child([&] {
                  try {
                      managed_heap::open(name);
                      return 1;
                  } catch (const heap_broken_error&) {
                      return 0;
                  }
              }),
              0);
    managed_heap::remove(name);
}

// A writer SIGKILLed at random moments while it allocates and frees (inside Boost's allocator
// lock much of the time): a fresh process then either uses the heap or gets heap_broken_error,
// within its time limit; never a hang. 200 trials.
TEST(managed_heap, a_writer_killed_in_the_allocator_is_detected_never_a_hang) {
    std::mt19937 rng(99);
    int broken = 0, fine = 0;
    for (int trial = 0; trial < 200; ++trial) {
        const std::string name = unique_name("heap_kill");
        shm_guard guard(name);
        managed_heap::create(name, 1 << 20, {.persistent = true});
        test::run_and_kill_child(
            [&] {
                const managed_heap h = managed_heap::open(name);
                std::vector<void*> blocks;
                for (std::uint64_t k = 0;; ++k) {
                    blocks.push_back(h.manager().allocate(16 + k % 512));
                    if (blocks.size() > 64) {
                        h.manager().deallocate(blocks.front());
                        blocks.erase(blocks.begin());
                    }
                }
                return 0;
            },
            std::chrono::microseconds(rng() % 3000));
        const int rc = run_in_child(
            [&] {
                try {
                    const managed_heap h = managed_heap::open(name);
                    h.manager().deallocate(h.manager().allocate(64));
                    return 0;
                } catch (const heap_broken_error&) {
                    return 3;
                }
            },
            std::chrono::seconds(10));
        ASSERT_TRUE(rc == 0 || rc == 3) << "trial " << trial << ": " << (rc == -1 ? "a hang" : "status " + std::to_string(rc));
        (rc == 3 ? broken : fine)++;
        managed_heap::remove(name);
    }
    std::printf("200 writers killed: %d heaps refused, %d usable\n", broken, fine);
    EXPECT_GT(broken, 0) << "no kill landed in the allocator's lock: the test proved nothing";
}

}  // namespace
}  // namespace shmpool
