#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <complex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <xtensor/xview.hpp>

#include "os.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

TEST(shared_array, handle_is_trivially_copyable_so_it_can_travel_to_workers) {
    static_assert(std::is_trivially_copyable_v<shared_array<double>>);
    static_assert(std::is_trivially_copyable_v<shared_array<bool>>);
    SUCCEED();
}

TEST(shared_array, create_view_open_remove) {
    const std::string name = unique_name("basic");
    shm_guard guard(name);
    auto grid = shared_array<double>::create(name, {10, 8});
    EXPECT_TRUE(shm_exists(name));
    EXPECT_EQ(grid.size(), 80u);
    EXPECT_EQ(grid.shape(), (std::vector<std::size_t>{10, 8}));
    EXPECT_EQ(grid.name(), name);
    EXPECT_EQ(grid.rank(), 2u);
    EXPECT_FALSE(grid.is_file_backed());
    EXPECT_EQ(grid.data()[79], 0.0) << "a new array is zero-filled";

    grid.view().fill(42.0);
    auto same = shared_array<double>::open(name);
    EXPECT_EQ(same.data(), grid.data()) << "one mapping per segment and process";
    EXPECT_EQ(same.view()(9, 7), 42.0);
    same.view()(2, 3) = 5.0;
    EXPECT_EQ(grid.data()[2 * 8 + 3], 5.0);

    shared_array<double>::remove(name);
    EXPECT_FALSE(shm_exists(name));
    EXPECT_THROW(grid.view(), not_found_error) << "a handle of a removed array must not dangle";
}

TEST(shared_array, data_is_page_aligned_after_a_4096_byte_header) {
    const std::string name = unique_name("align");
    shm_guard guard(name);
    auto a = shared_array<float>::create(name, {3});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 4096, 0u);
    std::ifstream f("/dev/shm/" + name, std::ios::binary);
    char head[10];
    f.read(head, 10);
    EXPECT_EQ(std::string(head, 6), "\x93NUMPY");
    EXPECT_EQ(head[6], 1);
    EXPECT_EQ(head[7], 0);
    EXPECT_EQ(static_cast<unsigned char>(head[8]) | (static_cast<unsigned char>(head[9]) << 8),
              4096 - 10);
    shared_array<float>::remove(name);
}

// The resident kB of this process's mapping that holds `address` (its "Rss:" in smaps).
std::size_t resident_kb_of_mapping(const void* address) {
    const auto at = reinterpret_cast<std::uintptr_t>(address);
    std::ifstream smaps("/proc/self/smaps");
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        std::uintptr_t begin = 0, end = 0;
        char dash = 0;
        std::istringstream head(line);
        if (head >> std::hex >> begin >> dash >> end && dash == '-') {
            inside = begin <= at && at < end;
            continue;
        }
        if (inside && line.rfind("Rss:", 0) == 0) return std::stoul(line.substr(4));
    }
    return 0;
}

// Bytes the file system holds for /dev/shm/NAME.
std::size_t allocated_bytes(const std::string& name) {
    struct stat st{};
    if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) return 0;
    return static_cast<std::size_t>(st.st_blocks) * 512;
}

TEST(shared_array, a_populated_array_is_allocated_and_mapped_at_creation) {
    // 192 MiB: large enough to be populated from several threads where there are cores.
    constexpr std::size_t bytes = std::size_t{192} << 20;
    const std::string name = unique_name("populated");
    shm_guard guard(name);
    auto a = shared_array<std::uint8_t>::create(name, {bytes});
    EXPECT_GE(allocated_bytes(name), bytes) << "every page allocated at creation";
    EXPECT_GE(resident_kb_of_mapping(a.data()), bytes / 1024)
        << "the page tables were not filled at creation: the first fill would fault";
    std::memset(a.data(), 42, bytes);
    EXPECT_EQ(a.data()[0], 42);
    EXPECT_EQ(a.data()[bytes - 1], 42);
    shared_array<std::uint8_t>::remove(name);
}

TEST(shared_array, an_unpopulated_array_still_has_its_space_reserved) {
    constexpr std::size_t bytes = std::size_t{64} << 20;
    const std::string name = unique_name("lazy");
    shm_guard guard(name);
    auto a = shared_array<std::uint8_t>::create(name, {bytes}, {.populate = false});
    EXPECT_GE(allocated_bytes(name), bytes) << "space must be reserved: no SIGBUS later";
    EXPECT_LT(resident_kb_of_mapping(a.data()), bytes / 1024 / 2)
        << "the pages were mapped at creation although populate = false";
    std::memset(a.data(), 7, bytes);
    EXPECT_GE(resident_kb_of_mapping(a.data()), bytes / 1024);
    shared_array<std::uint8_t>::remove(name);
}

TEST(shared_array, populating_beyond_the_end_of_a_file_is_an_error_not_a_sigbus) {
    const std::string name = unique_name("short");
    shm_guard guard(name);
    const std::string path = "/dev/shm/" + name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 4096), 0);
    const std::size_t length = std::size_t{256} << 20;  // several threads' worth, one page backed
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    EXPECT_EQ(detail::populate_writable(p, length), EFAULT);
    EXPECT_EQ(detail::populate_writable(p, 4096), 0);
    ::munmap(p, length);
    ::close(fd);
}

TEST(shared_array, row_views_of_the_view_are_safe_the_natural_way) {
    const std::string name = unique_name("rows");
    shm_guard guard(name);
    auto grid = shared_array<double>::create(name, {4, 1000});
    xt::row(grid.view(), 2).fill(7.0);
    auto r = xt::row(grid.view(), 2);
    EXPECT_EQ(r(0), 7.0);
    EXPECT_EQ(r(999), 7.0);
    auto other = xt::row(shared_array<double>::open(name).view(), 3);
    other(5) = 1.5;  // the view outlives the temporary handle: the adaptor lives in the table
    EXPECT_EQ(grid.data()[3 * 1000 + 5], 1.5);
    EXPECT_EQ(grid.data()[1 * 1000], 0.0);
    shared_array<double>::remove(name);
}

template <class T>
class every_dtype : public ::testing::Test {};
using dtypes = ::testing::Types<bool, std::int8_t, std::int16_t, std::int32_t, std::int64_t,
                                std::uint8_t, std::uint16_t, std::uint32_t, std::uint64_t, float,
                                double, std::complex<float>, std::complex<double>>;
TYPED_TEST_SUITE(every_dtype, dtypes);

TYPED_TEST(every_dtype, round_trips_and_refuses_other_types) {
    const std::string name = unique_name("dtype");
    shm_guard guard(name);
    auto a = shared_array<TypeParam>::create(name, {5, 3});
    a.view()(4, 2) = TypeParam(1);
    const int rc = run_in_child([&] {
        auto b = shared_array<TypeParam>::open(name);
        return b.view()(4, 2) == TypeParam(1) && b.shape() == a.shape() ? 0 : 1;
    });
    EXPECT_EQ(rc, 0);
    if constexpr (!std::is_same_v<TypeParam, double>) {
        try {
            shared_array<double>::open(name);
            ADD_FAILURE() << "opened " << dtype_name(dtype_of<TypeParam>) << " as float64";
        } catch (const type_mismatch_error& e) {
            EXPECT_NE(std::string(e.what()).find(std::string(dtype_name(dtype_of<TypeParam>))),
                      std::string::npos);
            EXPECT_NE(std::string(e.what()).find("float64"), std::string::npos);
        }
    }
    shared_array<TypeParam>::remove(name);
}

TEST(shared_array, ranks_one_to_eight) {
    for (std::size_t rank = 1; rank <= 8; ++rank) {
        const std::string name = unique_name("rank");
        shm_guard guard(name);
        std::vector<std::size_t> shape(rank, 2);
        auto a = shared_array<std::int32_t>::create(name, shape);
        EXPECT_EQ(a.size(), std::size_t{1} << rank);
        EXPECT_EQ(a.view().dimension(), rank);
        EXPECT_EQ(shared_array<std::int32_t>::open(name).shape(), shape);
        shared_array<std::int32_t>::remove(name);
    }
    EXPECT_THROW(shared_array<int>::create(unique_name("r0"), {}), invalid_argument_error);
    EXPECT_THROW(shared_array<int>::create(unique_name("r9"), std::vector<std::size_t>(9, 1)),
                 invalid_argument_error);
}

TEST(shared_array, zero_length_dimensions_are_allowed) {
    const std::string name = unique_name("empty");
    shm_guard guard(name);
    auto a = shared_array<double>::create(name, {0, 5});
    EXPECT_EQ(a.size(), 0u);
    EXPECT_EQ(shared_array<double>::open(name).shape(), (std::vector<std::size_t>{0, 5}));
    shared_array<double>::remove(name);
}

TEST(shared_array, open_of_a_missing_name_says_where_it_looked) {
    const std::string name = unique_name("missing");
    try {
        shared_array<double>::open(name);
        FAIL() << "opened a missing array";
    } catch (const not_found_error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("/dev/shm/" + name), std::string::npos);
    }
}

TEST(shared_array, create_refuses_a_taken_name_unless_asked_to_replace) {
    const std::string name = unique_name("taken");
    shm_guard guard(name);
    auto first = shared_array<double>::create(name, {4});
    first.view().fill(1.0);
    EXPECT_THROW(shared_array<double>::create(name, {4}), already_exists_error);
    EXPECT_EQ(shared_array<double>::open(name).view()(0), 1.0) << "the old array is untouched";

    shared_array<double>::create(name, {6}, {.replace_existing = true});
    EXPECT_EQ(shared_array<double>::open(name).size(), 6u);
    EXPECT_EQ(first.view()(0), 1.0) << "old handles keep the old segment";
    shared_array<double>::remove(name);
}

TEST(shared_array, bad_names_are_refused_with_the_reason) {
    const auto refused = [](const std::string& name, const std::string& hint) {
        try {
            shared_array<double>::create(name, {1});
            ADD_FAILURE() << "accepted '" << name << "'";
            shared_array<double>::remove(name);
        } catch (const invalid_argument_error& e) {
            EXPECT_NE(std::string(e.what()).find(hint), std::string::npos) << e.what();
        }
    };
    refused("", "empty");
    refused("/", "empty");
    refused("a/b", "file_path");
    refused("..", "not a usable");
    refused(std::string(300, 'x'), "255");
    refused(std::string("a\0b", 3), "NUL");

    const std::string name = unique_name("slash");
    shm_guard guard(name);
    auto a = shared_array<double>::create("/" + name, {1});  // shm_open's spelling
    EXPECT_EQ(a.name(), name);
    EXPECT_TRUE(shm_exists(name));
    shared_array<double>::remove(name);
}

TEST(shared_array, byte_sizes_that_overflow_are_refused) {
    const std::size_t big = std::size_t{1} << 62;
    EXPECT_THROW(shared_array<double>::create(unique_name("ovf"), {big, 4}),
                 invalid_argument_error);
    EXPECT_THROW(shared_array<double>::create(unique_name("ovf"), {big / 8}),
                 invalid_argument_error);
}

TEST(shared_array, too_big_for_dev_shm_is_an_error_at_creation_and_leaves_nothing) {
    const std::string name = unique_name("huge");
    shm_guard guard(name);
    try {
        shared_array<std::uint8_t>::create(name, {std::size_t{1} << 50});
        FAIL() << "created a 1 PiB array";
    } catch (const no_space_error& e) {
        EXPECT_GE(e.needed_bytes(), std::size_t{1} << 50);
        EXPECT_LT(e.free_bytes(), e.needed_bytes());
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("free"), std::string::npos);
    }
    const std::string staging = ".shmpool-tmp-" + std::to_string(::getpid()) + "-";
    for (const std::string& entry : test::shm_listing()) {  // other programs may use /dev/shm
        EXPECT_NE(entry, name);
        EXPECT_NE(entry.rfind(staging, 0), 0u) << "staging file left: " << entry;
    }
}

TEST(shared_array, more_than_the_memory_available_is_refused_before_the_oom_killer_acts) {
    const std::string name = unique_name("oom");
    shm_guard guard(name);
    const std::size_t memory = detail::available_memory_bytes();
    ASSERT_GT(memory, 0u);
    try {
        shared_array<std::uint8_t>::create(name, {memory + (std::size_t{1} << 30)});
        FAIL() << "created an array larger than the memory available";
    } catch (const no_space_error& e) {
        EXPECT_GT(e.needed_bytes(), memory);
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos);
    }
    EXPECT_FALSE(test::shm_exists(name));
}

TEST(shared_array, a_segment_that_is_not_an_array_is_an_error_not_a_crash) {
    const std::string name = unique_name("junk");
    shm_guard guard(name);
    std::ofstream("/dev/shm/" + name) << "not an array at all";
    EXPECT_THROW(shared_array<double>::open(name), format_error);
    EXPECT_THROW(shared_array<double>::remove(name), format_error);
    EXPECT_TRUE(shm_exists(name)) << "remove must leave another program's file alone";
}

TEST(shared_array, a_truncated_segment_is_an_error_not_a_sigbus) {
    const std::string name = unique_name("trunc");
    shm_guard guard(name);
    {
        auto a = shared_array<double>::create(name, {1000}, {.persistent = true});
        (void)a;
    }
    ASSERT_EQ(::truncate(("/dev/shm/" + name).c_str(), 4096 + 800), 0);
    const int rc = run_in_child([&] {  // a fresh process, so nothing is mapped yet
        try {
            shared_array<double>::open(name);
        } catch (const format_error& e) {
            return std::string(e.what()).find("truncated") != std::string::npos ? 0 : 2;
        }
        return 1;
    });
    EXPECT_EQ(rc, 0);
}

TEST(shared_array, segments_are_private_to_their_user_by_default) {
    const std::string name = unique_name("mode");
    shm_guard guard(name);
    shared_array<double>::create(name, {1});
    struct stat st{};
    ASSERT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    shared_array<double>::remove(name);

    shared_array<double>::create(name, {1}, {.mode = 0640});
    ASSERT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    shared_array<double>::remove(name);
}

TEST(shared_array, create_does_not_follow_or_clobber_a_symlink) {
    const std::string name = unique_name("link");
    const std::string target = "/tmp/" + unique_name("target");
    shm_guard guard(name);
    test::unlink_guard target_guard(target);
    std::ofstream(target) << "precious";
    ASSERT_EQ(::symlink(target.c_str(), ("/dev/shm/" + name).c_str()), 0);
    EXPECT_THROW(shared_array<double>::create(name, {4}), already_exists_error);
    EXPECT_THROW(shared_array<double>::open(name), error);
    std::string content;
    std::ifstream(target) >> content;
    EXPECT_EQ(content, "precious");
}

TEST(shared_array, file_backed_arrays_use_the_same_api) {
    const std::string dir = std::filesystem::temp_directory_path() / unique_name("dir");
    std::filesystem::create_directory(dir);
    const std::string path = dir + "/features.npy";
    {
        auto a = shared_array<float>::create(file_path{path}, {100, 16}, {.persistent = true});
        EXPECT_TRUE(a.is_file_backed());
        EXPECT_EQ(a.name(), path);
        xt::row(a.view(), 99).fill(2.5f);
    }
    const int rc = run_in_child([&] {
        auto b = shared_array<float>::open(file_path{path});
        return b.view()(99, 15) == 2.5f ? 0 : 1;
    });
    EXPECT_EQ(rc, 0);
    shared_array<float>::remove(file_path{path});
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_THROW(shared_array<float>::open(file_path{dir + "/missing.npy"}), not_found_error);
    EXPECT_THROW(shared_array<float>::create(file_path{dir + "/no/such/dir.npy"}, {1}), error);
    std::filesystem::remove_all(dir);
}

TEST(shared_array, the_creator_removes_its_arrays_at_exit_unless_persistent) {
    const std::string plain = unique_name("exit");
    const std::string kept = unique_name("kept");
    shm_guard g1(plain), g2(kept);
    const int rc = run_in_child([&] {
        shared_array<double>::create(plain, {8});
        shared_array<double>::create(kept, {8}, {.persistent = true});
        std::exit(0);  // a normal exit runs the cleanup
        return 0;
    });
    EXPECT_EQ(rc, 0);
    EXPECT_FALSE(shm_exists(plain));
    EXPECT_TRUE(shm_exists(kept));
}

TEST(shared_array, a_child_exiting_does_not_remove_its_parents_arrays) {
    const std::string name = unique_name("parent");
    shm_guard guard(name);
    shared_array<double>::create(name, {8});
    EXPECT_EQ(run_in_child([&] { std::exit(0); return 0; }), 0);
    EXPECT_TRUE(shm_exists(name));
    shared_array<double>::remove(name);
}

TEST(shared_array, a_handle_copied_as_bytes_attaches_by_name_in_another_process) {
    const std::string name = unique_name("bytes");
    shm_guard guard(name);
    int to_child[2], from_child[2];
    ASSERT_EQ(::pipe(to_child), 0);
    ASSERT_EQ(::pipe(from_child), 0);
    // The child is forked before the array exists, like a pool worker.
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::alarm(20);
        alignas(shared_array<double>) unsigned char buf[sizeof(shared_array<double>)];
        if (::read(to_child[0], buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) ::_exit(2);
        shared_array<double> h;
        std::memcpy(static_cast<void*>(&h), buf, sizeof h);
        xt::row(h.view(), 1).fill(3.0);
        const char ok = h.size() == 6 ? 'y' : 'n';
        ::_exit(::write(from_child[1], &ok, 1) == 1 ? 0 : 3);
    }
    auto grid = shared_array<double>::create(name, {2, 3});
    ASSERT_EQ(::write(to_child[1], &grid, sizeof grid), static_cast<ssize_t>(sizeof grid));
    char ok = 0;
    ASSERT_EQ(::read(from_child[0], &ok, 1), 1);
    EXPECT_EQ(ok, 'y');
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(grid.view()(1, 2), 3.0);
    EXPECT_EQ(grid.view()(0, 2), 0.0);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
    shared_array<double>::remove(name);
}

TEST(shared_array, a_handle_to_a_replaced_array_does_not_reach_the_new_one) {
    const std::string name = unique_name("replaced");
    shm_guard guard(name);
    auto old_one = shared_array<double>::create(name, {4});
    const int rc = run_in_child([&] {  // another process replaces it meanwhile
        shared_array<double>::create(name, {4}, {.replace_existing = true, .persistent = true});
        return 0;
    });
    ASSERT_EQ(rc, 0);
    const int in_fresh_process = run_in_child([&] {
        detail::release_removed_segments();  // what a pool worker does before each call
        try {
            old_one.view();
        } catch (const not_found_error&) {
            return 0;
        }
        return 1;
    });
    EXPECT_EQ(in_fresh_process, 0);
    shared_array<double>::remove(name);
}

TEST(shared_array, removed_arrays_are_unmapped_by_release_removed_segments) {
    const std::string name = unique_name("release");
    shm_guard guard(name);
    detail::release_removed_segments();  // forget what earlier tests of this process left
    auto a = shared_array<double>::create(name, {4});
    EXPECT_EQ(detail::release_removed_segments(), 0u);
    ::unlink(("/dev/shm/" + name).c_str());  // as another process's remove() would
    EXPECT_EQ(detail::release_removed_segments(), 1u);
    EXPECT_THROW(a.view(), not_found_error);
}

TEST(shared_array, an_empty_handle_throws) {
    shared_array<double> empty;
    EXPECT_FALSE(empty);
    EXPECT_THROW(empty.view(), error);
}

}  // namespace
}  // namespace shmpool
