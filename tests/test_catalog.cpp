#include "shmpool/catalog.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

const array_info* find(const std::vector<array_info>& all, const std::string& name) {
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& a) { return a.name == name; });
    return it == all.end() ? nullptr : &*it;
}

// Creates an array in a child that dies without cleaning up, as a crashed program would.
void create_orphan(const std::string& name, bool persistent) {
    ASSERT_EQ(run_in_child([&] {
                  shared_array<float>::create(name, {16}, {.persistent = persistent});
                  ::_exit(0);  // no exit handlers: the array stays behind
                  return 0;
              }),
              0);
}

TEST(catalog, list_arrays_shows_what_was_created_and_by_whom) {
    const std::string name = unique_name("listed");
    const std::string junk = unique_name("junk");
    shm_guard g1(name), g2(junk);
    std::ofstream("/dev/shm/" + junk) << "some other program's segment";
    shared_array<std::int16_t>::create(name, {3, 5});
    const auto all = list_arrays();
    const array_info* info = find(all, name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->dtype, "int16");
    EXPECT_EQ(info->shape, (std::vector<std::size_t>{3, 5}));
    EXPECT_EQ(info->data_bytes, 30u);
    EXPECT_EQ(info->file_bytes, 3u * 4096);
    EXPECT_EQ(info->path, "/dev/shm/" + name);
    EXPECT_TRUE(info->made_by_shmpool);
    EXPECT_EQ(info->creator_pid, ::getpid());
    EXPECT_TRUE(info->creator_alive);
    EXPECT_FALSE(info->persistent);
    EXPECT_GT(info->created_unix_ns, 0);
    EXPECT_EQ(find(all, junk), nullptr) << "files that are not arrays are not listed";
    shared_array<std::int16_t>::remove(name);
}

TEST(catalog, describe_array_of_a_missing_or_foreign_name) {
    const std::string junk = unique_name("junk");
    shm_guard guard(junk);
    EXPECT_THROW(describe_array(unique_name("missing")), not_found_error);
    std::ofstream("/dev/shm/" + junk) << "x";
    EXPECT_THROW(describe_array(junk), format_error);
}

TEST(catalog, gc_removes_arrays_of_dead_creators_but_not_persistent_ones) {
    const std::string orphan = unique_name("orphan");
    const std::string kept = unique_name("kept");
    const std::string mine = unique_name("mine");
    shm_guard g1(orphan), g2(kept), g3(mine);
    create_orphan(orphan, false);
    create_orphan(kept, true);
    shared_array<float>::create(mine, {4});

    const array_info info = describe_array(orphan);
    EXPECT_FALSE(info.creator_alive);
    EXPECT_TRUE(describe_array(kept).persistent);

    const auto would = collect_garbage(true);
    EXPECT_NE(std::find(would.begin(), would.end(), orphan), would.end());
    EXPECT_TRUE(shm_exists(orphan)) << "a dry run removes nothing";

    const auto removed = collect_garbage();
    EXPECT_NE(std::find(removed.begin(), removed.end(), orphan), removed.end());
    EXPECT_EQ(std::find(removed.begin(), removed.end(), kept), removed.end());
    EXPECT_EQ(std::find(removed.begin(), removed.end(), mine), removed.end());
    EXPECT_FALSE(shm_exists(orphan));
    EXPECT_TRUE(shm_exists(kept));
    EXPECT_TRUE(shm_exists(mine));
    shared_array<float>::remove(kept);
    shared_array<float>::remove(mine);
}

// The boot ID in a segment's trailer, as 16 bytes (from /proc/sys/kernel/random/boot_id).
std::string this_boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string text, bytes;
    in >> text;
    std::string hex;
    for (char c : text)
        if (c != '-') hex += c;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return bytes;
}

// An array whose trailer records another host's boot ID (a directory several hosts share): its
// creator's PID means nothing here, so it is not an orphan, whatever that PID is on this host.
TEST(catalog, gc_leaves_an_array_made_on_another_host) {
    const std::string name = unique_name("elsewhere");
    shm_guard guard(name);
    create_orphan(name, false);
    ASSERT_FALSE(describe_array(name).creator_alive);

    const std::string boot = this_boot_id();
    ASSERT_EQ(boot.size(), 16u);
    std::fstream f("/dev/shm/" + name, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    std::string trailer(4096, '\0');  // the last page
    f.seekg(size - 4096);
    f.read(trailer.data(), 4096);
    const std::size_t at = trailer.find(boot);
    ASSERT_NE(at, std::string::npos) << "the trailer does not record this host's boot ID";
    std::string other = boot;
    other[0] = static_cast<char>(other[0] ^ 0x5a);
    f.seekp(size - 4096 + static_cast<std::streamoff>(at));
    f.write(other.data(), 16);
    f.close();

    const array_info info = describe_array(name);
    EXPECT_TRUE(info.creator_elsewhere);
    EXPECT_TRUE(info.creator_alive) << "a creator of another host cannot be found dead here";
    const auto removed = collect_garbage();
    EXPECT_EQ(std::find(removed.begin(), removed.end(), name), removed.end());
    EXPECT_TRUE(shm_exists(name));
    shared_array<float>::remove(name);
}

// A creator that exited but was not reaped yet (a zombie) runs no more code: it is dead for
// ls and gc, as it is for the rwlock.
TEST(catalog, a_zombie_creator_counts_as_dead) {
    const std::string name = unique_name("zombie");
    shm_guard guard(name);
    std::fflush(nullptr);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            shared_array<float>::create(name, {16});
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);  // no exit handlers: the array stays behind
    }
    siginfo_t info{};  // wait for the exit, but leave the child a zombie (WNOWAIT)
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
    ASSERT_EQ(info.si_status, 0);
    const array_info d = describe_array(name);
    EXPECT_EQ(d.creator_pid, child);
    EXPECT_FALSE(d.creator_alive) << "a zombie creator was counted as alive";
    const auto removed = collect_garbage();
    EXPECT_NE(std::find(removed.begin(), removed.end(), name), removed.end());
    EXPECT_FALSE(shm_exists(name));
    ::waitpid(child, nullptr, 0);
}

// A directory under an array's name is "not an array" (format_error) for every operation, as
// `shmpool info` says, never a bare EISDIR.
TEST(catalog, a_directory_is_not_an_array) {
    const std::string name = unique_name("dir");
    const std::string path = "/dev/shm/" + name;
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
    struct rmdir_guard {
        std::string p;
        ~rmdir_guard() { ::rmdir(p.c_str()); }
    } guard{path};
    EXPECT_THROW(describe_array(name), format_error);
    EXPECT_THROW(shared_array<float>::open(name), format_error);
    EXPECT_THROW(shared_array<float>::remove(name), format_error);
    EXPECT_THROW(remove_array(name), format_error);
    try {
        shared_array<float>::open(name);
    } catch (const format_error& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace shmpool
