// Tests of which processes memory inspection (shmpool/memory.hpp) reads: a process tree from its
// root, every process that maps a segment; and the processes it cannot read: one that does not
// exist or belongs to another user (an error, never zeros), a zombie, one that exits while being
// read (skipped, with the reason).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "memory_test_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/memory.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::become_nobody;
using test::family;
using test::run_in_child;
using test::shm_guard;
using test::unique_name;
using test::write_all;

// ---------------------------------------------------------------------------------------------
// Selection

TEST(memory, root_selects_the_process_and_all_its_descendants) {
    const std::string name = unique_name("tree");
    shm_guard guard(name);
    family fam(name, std::size_t{4} << 20, 3);
    ASSERT_TRUE(fam.ready());
    std::vector<pid_t> tree = process_tree(fam.parent());
    ASSERT_FALSE(tree.empty());
    EXPECT_EQ(tree.front(), fam.parent()) << "root first";
    std::sort(tree.begin(), tree.end());
    EXPECT_EQ(tree, fam.pids());
    const memory_report r = inspect_memory_tree(fam.parent());
    EXPECT_EQ(r.processes.size(), 4u);
    EXPECT_EQ(r.processes.front().pid, fam.parent());
}

TEST(memory, segment_name_selects_every_process_that_maps_it) {
    const std::string name = unique_name("mapped");
    shm_guard guard(name);
    family fam(name, std::size_t{4} << 20, 2);
    ASSERT_TRUE(fam.ready());
    const memory_report r = inspect_memory_of_segment(name);
    std::vector<pid_t> pids;
    for (const process_memory& p : r.processes) pids.push_back(p.pid);
    EXPECT_EQ(pids, fam.pids());
    const memory_report by_path = inspect_memory_of_segment(file_path{"/dev/shm/" + name});
    EXPECT_EQ(by_path.processes.size(), 3u);
}

TEST(memory, a_name_no_process_maps_is_not_found) {
    const std::string unmapped = unique_name("unmapped");
    shm_guard guard(unmapped);
    std::ofstream("/dev/shm/" + unmapped) << "nobody maps this";
    try {
        inspect_memory_of_segment(unmapped);
        ADD_FAILURE() << "no exception";
    } catch (const not_found_error& e) {
        // "no process maps segment 'NAME'", or "no process this user may read maps ..." when
        // some processes could not be checked (PID 1 of some containers, even for root)
        EXPECT_EQ(std::string(e.what()).rfind("no process ", 0), 0u) << e.what();
        EXPECT_NE(std::string(e.what()).find("maps segment '" + unmapped + "'"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(inspect_memory_of_segment(unique_name("missing")), not_found_error);
    EXPECT_THROW(inspect_memory_of_segment("bad/name"), invalid_argument_error);
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST(memory, a_pid_that_does_not_exist_is_not_found) {
    const pid_t gone = ::fork();
    if (gone == 0) ::_exit(0);
    ASSERT_GT(gone, 0);
    ::waitpid(gone, nullptr, 0);
    try {
        inspect_memory({::getpid(), gone});
        ADD_FAILURE() << "no exception";
    } catch (const not_found_error& e) {
        EXPECT_NE(std::string(e.what()).find(std::to_string(gone)), std::string::npos);
    }
    EXPECT_THROW(read_process_memory(gone), not_found_error);
    EXPECT_THROW(inspect_memory_tree(gone), not_found_error);
    EXPECT_THROW(inspect_memory({}), invalid_argument_error);
    EXPECT_THROW(inspect_memory({0}), invalid_argument_error);
    EXPECT_THROW(inspect_memory({-5}), invalid_argument_error);
}

TEST(memory, another_users_process_is_an_error_never_zeros) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to become another user";
    const pid_t target = ::getpid();
    const int rc = run_in_child([&] {
        if (!become_nobody()) return 10;
        try {
            const memory_report r = inspect_memory({target});
            std::fprintf(stderr, "read %zu processes as nobody\n", r.processes.size());
            return 11;
        } catch (const system_error& e) {
            const std::string what = e.what();
            if (e.code().value() != EACCES) return 12;
            if (what.find(std::to_string(target)) == std::string::npos) return 13;
            if (what.find("run as that user or as root") == std::string::npos) return 14;
            if (what.find("user root (0)") == std::string::npos) return 15;
            return 0;
        }
    });
    EXPECT_EQ(rc, 0);
}

TEST(memory, a_zombie_is_skipped_with_its_reason) {
    const pid_t zombie = ::fork();
    if (zombie == 0) ::_exit(0);
    ASSERT_GT(zombie, 0);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
    const memory_report r = inspect_memory({::getpid(), zombie});
    ::waitpid(zombie, nullptr, 0);
    ASSERT_EQ(r.processes.size(), 1u);
    EXPECT_EQ(r.processes[0].pid, ::getpid());
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_EQ(r.skipped[0].pid, zombie);
    EXPECT_NE(r.skipped[0].reason.find("exited"), std::string::npos) << r.skipped[0].reason;
}

// A child with `count` small mappings (alternating protections, so never merged): a long smaps.
pid_t start_many_mappings(int count, int ready) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    ::alarm(120);
    for (int i = 0; i < count; ++i) {
        const int prot = i % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
        if (::mmap(nullptr, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
    }
    const char c = 1;
    if (!write_all(ready, &c, 1)) ::_exit(1);
    for (;;) ::pause();
}

// Starts a child with 20000 mappings and waits until they are all made.
pid_t start_long_smaps() {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) return -1;
    const pid_t child = start_many_mappings(20000, ready[1]);
    ::close(ready[1]);
    char c;
    const bool ok = child > 0 && ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
    return ok ? child : -1;
}

TEST(memory, a_process_that_exits_while_being_read_is_skipped) {
    const pid_t alive = start_long_smaps();
    ASSERT_GT(alive, 0);
    const memory_report whole = inspect_memory({alive});
    ::kill(alive, SIGKILL);
    ::waitpid(alive, nullptr, 0);
    ASSERT_EQ(whole.processes.size(), 1u) << "a live process is read whole";
    EXPECT_GE(whole.processes[0].mappings.size(), 20000u);
    std::printf("20000 mappings read in %.1f ms\n", whole.read_seconds * 1e3);

    int skipped_mid_read = 0;
    int read_whole = 0;
    for (int round = 0; round < 12; ++round) {
        const pid_t child = start_long_smaps();
        ASSERT_GT(child, 0);
        std::thread killer([&] {
            std::this_thread::sleep_for(std::chrono::microseconds(500 + 2000 * round));
            ::kill(child, SIGKILL);
            if (round % 2) ::waitpid(child, nullptr, 0);  // reaped, or left a zombie
        });
        try {
            const memory_report r = inspect_memory({child});
            if (!r.skipped.empty()) {
                EXPECT_EQ(r.skipped[0].pid, child);
                EXPECT_NE(r.skipped[0].reason.find("exited"), std::string::npos);
                skipped_mid_read += r.skipped[0].reason == "exited while being read";
            } else {
                ASSERT_EQ(r.processes.size(), 1u);
                EXPECT_GE(r.processes[0].mappings.size(), 20000u) << "never a truncated read";
                ++read_whole;
            }
        } catch (const not_found_error&) {
            // gone before the read began
        }
        killer.join();
        ::waitpid(child, nullptr, 0);
    }
    std::printf("exited while being read: %d of 12 rounds; read whole: %d\n", skipped_mid_read,
                read_whole);
    EXPECT_GT(skipped_mid_read, 0);
}

}  // namespace
}  // namespace shmpool
