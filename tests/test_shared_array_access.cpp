// Tests of shared_array's first-day conveniences: read-only handles (open_read_only, a
// shared_array<const T>, mapped PROT_READ), dimensions given as ints, the message of a name
// that is taken by an array whose creator died, and lifetimes (file-backed arrays stay;
// std::terminate removes its process's arrays).
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>
#include <xtensor/xview.hpp>

#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_guard;
using test::unique_name;

static_assert(std::is_same_v<decltype(shared_array<double>::open_read_only("x")),
                             shared_array<const double>>);
static_assert(std::is_same_v<decltype(shared_array<double>{}.data()), double*>);
static_assert(std::is_same_v<decltype(shared_array<const double>{}.data()), const double*>);
static_assert(std::is_trivially_copyable_v<shared_array<const float>>);

// The mapping of `name` in this process, as /proc/self/maps lists it ("r--s" or "rw-s").
std::string permissions_of_mapping(const std::string& name) {
    std::ifstream maps("/proc/self/maps");
    std::string perms;
    for (std::string line; std::getline(maps, line);)
        if (line.find("/dev/shm/" + name) != std::string::npos)
            perms = line.substr(line.find(' ') + 1, 4);
    return perms;
}

TEST(shared_array_access, open_read_only_maps_prot_read_and_gives_const_access) {
    const std::string name = unique_name("ro");
    shm_guard guard(name);
    // Created in a child, so that no read-write mapping of it in this process serves the
    // read-only open (a process that maps an array read-write uses that mapping for both).
    ASSERT_EQ(run_in_child([&] {
                  shared_array<std::int32_t>::create(name, {3, 4}).view().fill(7);
                  ::_exit(0);  // no exit handlers: the array stays
                  return 0;
              }),
              0);
    const shared_array<const std::int32_t> r = shared_array<std::int32_t>::open_read_only(name);
    EXPECT_EQ(r.data()[5], 7);
    EXPECT_EQ(r.view()(2, 3), 7);
    EXPECT_EQ(xt::row(r.view(), 1)(0), 7);
    EXPECT_TRUE(shared_array<const std::int32_t>::is_read_only());
    EXPECT_EQ(permissions_of_mapping(name), "r--s");
    shared_array<std::int32_t>::remove(name);
}

TEST(shared_array_access, a_writable_handle_converts_to_a_read_only_one) {
    const std::string name = unique_name("conv");
    shm_guard guard(name);
    auto w = shared_array<double>::create(name, {5});
    const shared_array<const double> r = w;
    w.data()[2] = 2.5;
    EXPECT_EQ(r.data()[2], 2.5) << "one array, one mapping";
    EXPECT_EQ(r.name(), w.name());
    shared_array<double>::remove(name);
}

TEST(shared_array_access, read_only_handles_reach_pool_workers) {
    process_pool pool(2);
    const std::string name = unique_name("ropool");
    shm_guard guard(name);
    auto w = shared_array<std::int64_t>::create(name, {100});
    for (std::int64_t i = 0; i < 100; ++i) w.data()[i] = i;
    const shared_array<const std::int64_t> r = w;
    const auto doubled = pool.map(0, 100, [r](std::size_t i) { return 2 * r.data()[i]; });
    for (std::size_t i = 0; i < 100; ++i) ASSERT_EQ(doubled[i], 2 * static_cast<std::int64_t>(i));
    shared_array<std::int64_t>::remove(name);
}

// The reason for a read-only open: a segment another user may read but not write.
TEST(shared_array_access, another_user_may_read_a_0644_array_but_not_open_it_read_write) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to become another user";
    const std::string name = unique_name("shared0644");
    shm_guard guard(name);
    auto w = shared_array<float>::create(name, {8}, {.mode = 0644});
    w.data()[3] = 1.5f;
    EXPECT_EQ(
        run_in_child([&] {
            const uid_t nobody = 65534;
            if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0)
                return 10;
            try {
                shared_array<float>::open(name);
                return 11;  // read-write must be refused
            } catch (const system_error&) {
            }
            return shared_array<float>::open_read_only(name).data()[3] == 1.5f ? 0 : 12;
        }),
        0);
    shared_array<float>::remove(name);
}

TEST(shared_array_access, row_takes_the_pools_size_t_index_without_a_sign_conversion) {
    const std::string name = unique_name("row");
    shm_guard guard(name);
    auto a = shared_array<int>::create(name, {3, 4});
    const std::size_t i = 2;  // what a pool task receives
    a.row(i).fill(5);
    EXPECT_EQ(a.data()[2 * 4 + 3], 5);
    EXPECT_EQ(a.data()[1 * 4 + 3], 0);
    const shared_array<const int> r = a;
    EXPECT_EQ(r.row(i)(0), 5);
    shared_array<int>::remove(name);
}

TEST(shared_array_access, dimensions_may_be_ints) {
    const std::string name = unique_name("ints");
    shm_guard guard(name);
    const int rows = 3, cols = 4;
    auto a = shared_array<double>::create(name, {rows, cols});
    EXPECT_EQ(a.shape(), (std::vector<std::size_t>{3, 4}));
    const int negative = -2;
    EXPECT_THROW(shared_array<double>::create(unique_name("neg"), {negative, cols}),
                 invalid_argument_error);
    shared_array<double>::remove(name);
}

TEST(shared_array_access, a_taken_name_whose_creator_died_says_so_and_how_to_remove_it) {
    const std::string name = unique_name("orphan");
    shm_guard guard(name);
    ASSERT_EQ(run_in_child([&] {
                  shared_array<float>::create(name, {16});
                  ::_exit(0);  // no exit handlers: the array stays behind, as after a SIGKILL
                  return 0;
              }),
              0);
    try {
        shared_array<float>::create(name, {16});
        ADD_FAILURE() << "created over an existing name";
    } catch (const already_exists_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("no longer running"), std::string::npos) << what;
        EXPECT_NE(what.find("shmpool gc"), std::string::npos) << what;
    }
    shared_array<float>::remove(name);
}

// --- lifetimes -------------------------------------------------------------------------------

TEST(shared_array_access, a_file_backed_array_stays_when_its_creator_exits) {
    const std::string path = std::string(SHMPOOL_BINARY_DIR) + "/" + unique_name("kept") + ".npy";
    test::unlink_guard guard(path);
    EXPECT_EQ(run_in_child([&] {
                  shared_array<float>::create(file_path{path}, {4, 4}).data()[5] = 1.25f;
                  std::exit(0);  // a normal exit: /dev/shm arrays would be removed now
                  return 0;
              }),
              0);
    EXPECT_EQ(::access(path.c_str(), F_OK), 0) << "the file was deleted at its creator's exit";
    EXPECT_EQ(shared_array<float>::open(file_path{path}).data()[5], 1.25f);
    shared_array<float>::remove(file_path{path});
}

TEST(shared_array_access, an_uncaught_exception_removes_the_arrays_of_its_process) {
    const std::string name = unique_name("terminated"), kept = unique_name("kept");
    shm_guard g1(name), g2(kept);
    const int rc = run_in_child([&] {
        rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        shared_array<double>::create(name, {8});
        shared_array<double>::create(kept, {8}, {.persistent = true});
        // An exception that escapes a thread's function ends the process as one that escapes
        // main() does: std::terminate, then abort().
        std::thread([] { throw std::runtime_error("uncaught"); }).join();
        return 0;
    });
    EXPECT_EQ(rc, 128 + SIGABRT) << "std::terminate ends the process with SIGABRT";
    EXPECT_FALSE(test::shm_exists(name)) << "left in /dev/shm by std::terminate";
    EXPECT_TRUE(test::shm_exists(kept)) << "a persistent array must stay";
    shared_array<double>::remove(kept);
}

TEST(shared_array_access, a_signal_removes_every_array_of_its_process_however_many) {
    // More than one block of the signal handler's table (256 entries): all 700 must go.
    constexpr int count = 700;
    const std::string prefix = unique_name("many");
    std::vector<std::unique_ptr<shm_guard>> guards;
    for (int k = 0; k < count; ++k)
        guards.push_back(std::make_unique<shm_guard>(prefix + "_" + std::to_string(k)));
    const int rc = run_in_child([&] {
        std::vector<shared_array<std::uint8_t>> arrays;
        for (int k = 0; k < count; ++k)
            arrays.push_back(
                shared_array<std::uint8_t>::create(prefix + "_" + std::to_string(k), {64}));
        shared_array<std::uint8_t>::remove(prefix + "_3");  // a freed entry is reused
        arrays.push_back(shared_array<std::uint8_t>::create(prefix + "_3", {64}));
        ::raise(SIGTERM);
        return 0;
    });
    EXPECT_EQ(rc, 128 + SIGTERM);
    int left = 0;
    for (int k = 0; k < count; ++k) left += test::shm_exists(prefix + "_" + std::to_string(k));
    EXPECT_EQ(left, 0) << "arrays left in /dev/shm after SIGTERM";
}

}  // namespace
}  // namespace shmpool
