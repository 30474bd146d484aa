// Tests of memory inspection (shmpool/memory.hpp) checked against the tools people trust: procps
// pmap, smem and /proc/PID/smaps_rollup, on a family of processes sharing a 512 MiB array
// (tests/memory_test_support.hpp); and the reading of a process's own mappings. The process
// selection and bad input are in test_memory_selection.cpp, `shmpool mem` in test_memory_cli.cpp.
// smem finds the family by the name of this binary, and reads_its_own_mappings_like_pmap checks
// that name (test_memory): these tests stay in this binary.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "memory_test_support.hpp"
#include "shmpool/memory.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::distance;
using test::family;
using test::run_command;
using test::shm_guard;
using test::unique_name;

// ---------------------------------------------------------------------------------------------
// What the reference tools print

// The mapping of the file now called `name`.
const memory_mapping* find_mapping(const process_memory& p, const std::string& name) {
    for (const memory_mapping& m : p.mappings)
        if (m.path == name) return &m;
    return nullptr;
}

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// The fields of the line of `table` that starts with `address` (in hex, any zero padding).
std::vector<std::string> row_at(const std::string& table, std::uint64_t address) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
        const std::vector<std::string> w = words(line);
        if (!w.empty() && std::strtoull(w[0].c_str(), nullptr, 16) == address &&
            w[0].find_first_not_of("0123456789abcdef") == std::string::npos)
            return w;
    }
    return {};
}

// The column `name` of the header of `pmap -X` (the line that starts with "Address").
std::size_t column_of(const std::string& table, const std::string& name) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
        const std::vector<std::string> w = words(line);
        if (w.empty() || w[0] != "Address") continue;
        const auto it = std::find(w.begin(), w.end(), name);
        return it == w.end() ? std::string::npos : static_cast<std::size_t>(it - w.begin());
    }
    return std::string::npos;
}

struct smem_row {
    std::uint64_t pss = 0, uss = 0, rss = 0;
};

// `smem -c "pid pss uss rss"` for the processes called test_memory, with `map_filter` as -M.
std::map<pid_t, smem_row> run_smem(const std::string& map_filter) {
    std::string out;
    std::string command = "smem -H -c 'pid pss uss rss' -P '^test_memory'";
    if (!map_filter.empty()) command += " -M '" + map_filter + "'";
    EXPECT_EQ(run_command(command, &out, 120), 0) << command << "\n" << out;
    std::map<pid_t, smem_row> rows;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        const std::vector<std::string> w = words(line);
        if (w.size() != 4) continue;
        rows[std::atoi(w[0].c_str())] = {std::strtoull(w[1].c_str(), nullptr, 10),
                                         std::strtoull(w[2].c_str(), nullptr, 10),
                                         std::strtoull(w[3].c_str(), nullptr, 10)};
    }
    return rows;
}

// Rss, Pss, USS and Swap of /proc/PID/smaps_rollup.
memory_usage rollup(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    memory_usage u;
    for (std::string line; std::getline(in, line);) {
        const std::vector<std::string> w = words(line);
        if (w.size() < 2) continue;
        const std::uint64_t kb = std::strtoull(w[1].c_str(), nullptr, 10);
        if (w[0] == "Rss:") u.rss_kb = kb;
        if (w[0] == "Pss:") u.pss_kb = kb;
        if (w[0] == "Private_Clean:" || w[0] == "Private_Dirty:") u.uss_kb += kb;
        if (w[0] == "Swap:") u.swap_kb = kb;
    }
    return u;
}

std::uint64_t number(const std::vector<std::string>& row, std::size_t i) {
    return i < row.size() ? std::strtoull(row[i].c_str(), nullptr, 10) : ~0ull;
}

// ---------------------------------------------------------------------------------------------
// Agreement with pmap, smem and smaps_rollup: 512 MiB, a parent and 3 children

// What one comparison found wrong; empty when everything agreed.
struct disagreements {
    std::vector<std::string> found;
    void check(bool ok, const std::string& what) {
        if (!ok) found.push_back(what);
    }
    template <class A, class B>
    void equal(const A& a, const B& b, const std::string& what) {
        std::ostringstream text;
        text << what << ": " << a << " vs " << b;
        check(a == b, text.str());
    }
    void near(std::uint64_t a, std::uint64_t b, std::uint64_t slack, const std::string& what) {
        check(distance(a, b) <= slack, what + ": " + std::to_string(a) + " vs " +
                                           std::to_string(b) + " (allowed " +
                                           std::to_string(slack) + ")");
    }
};

// One comparison of inspect_memory with pmap, smem and smaps_rollup for the family.
disagreements compare_with_the_tools(const family& fam, const std::string& path, std::size_t bytes,
                                     memory_report& r) {
    disagreements d;
    r = inspect_memory(fam.pids());
    if (r.processes.size() != 4u || !r.skipped.empty()) {
        d.check(false, "inspect_memory read " + std::to_string(r.processes.size()) +
                           " processes and skipped " + std::to_string(r.skipped.size()));
        return d;
    }
    // Read at once, before pmap and smem run: every process that starts maps libc, which moves
    // the PSS and USS of the family's own libc pages.
    std::map<pid_t, memory_usage> rollups;
    for (pid_t pid : fam.pids()) rollups[pid] = rollup(pid);
    const std::map<pid_t, smem_row> smem_all = run_smem("");
    // smem filters mappings by the name smaps shows: "/dev/shm/#3396" for a segment that was
    // named after it was mapped (smem splits off " (deleted)").
    const memory_mapping* first = find_mapping(r.processes.front(), path);
    if (!first) {
        d.check(false, "no mapping of " + path + " in " + std::to_string(r.processes[0].pid));
        return d;
    }
    std::string only_the_segment = "^";  // not "^" + ...: GCC 12's -Wrestrict misfires
    only_the_segment.append(first->name.substr(0, first->name.find(' '))).append("$");
    const std::map<pid_t, smem_row> smem_segment = run_smem(only_the_segment);

    for (const process_memory& p : r.processes) {
        const std::string pid = "PID " + std::to_string(p.pid) + ": ";
        const memory_mapping* m = find_mapping(p, path);
        if (!m) {
            d.check(false, pid + "no mapping of " + path);
            continue;
        }
        d.equal(m->mode, "rw-s-", pid + "mode");
        d.check(m->rss_kb >= bytes / 1024,
                pid + "every page was touched, but RSS is " + std::to_string(m->rss_kb) + " kB");

        std::string pmap_x, pmap_big_x;
        d.check(run_command("pmap -x " + std::to_string(p.pid), &pmap_x) == 0, pid + "pmap -x");
        d.check(run_command("pmap -X " + std::to_string(p.pid), &pmap_big_x) == 0, pid + "pmap -X");
        const std::vector<std::string> x = row_at(pmap_x, m->start);
        const std::vector<std::string> big_x = row_at(pmap_big_x, m->start);
        const std::size_t pss_column = column_of(pmap_big_x, "Pss");
        if (x.size() < 6 || pss_column >= big_x.size()) {
            d.check(false, pid + "cannot read pmap:\n" + pmap_x + pmap_big_x);
            continue;
        }
        d.equal(number(x, 1), m->kbytes, pid + "pmap -x Kbytes");
        d.equal(number(x, 2), m->rss_kb, pid + "pmap -x RSS");
        d.equal(number(x, 3), m->dirty_kb, pid + "pmap -x Dirty");
        d.equal(x[4], m->mode, pid + "pmap -x Mode");
        d.near(number(big_x, pss_column), m->pss_kb, 1, pid + "pmap -X Pss");

        if (!smem_segment.count(p.pid) || !smem_all.count(p.pid)) {
            d.check(false, pid + "not in smem's output");
            continue;
        }
        d.near(smem_segment.at(p.pid).pss, m->pss_kb, 1, pid + "smem PSS of the segment");
        d.equal(smem_segment.at(p.pid).rss, m->rss_kb, pid + "smem RSS of the segment");
        d.equal(smem_segment.at(p.pid).uss, m->uss_kb, pid + "smem USS of the segment");

        // Whole process. RSS is exact. PSS and USS are not fixed while smem runs: its python,
        // sh and timeout map libc pages that only the family had (measured: up to 135 kB of
        // PSS and 40 kB of USS move in the parent), hence a wide margin against smem.
        d.equal(smem_all.at(p.pid).rss, p.total.rss_kb, pid + "smem RSS");
        d.near(smem_all.at(p.pid).pss, p.total.pss_kb, 512, pid + "smem PSS");
        d.near(smem_all.at(p.pid).uss, p.total.uss_kb, 512, pid + "smem USS");
        const memory_usage roll = rollups.at(p.pid);
        d.near(roll.rss_kb, p.total.rss_kb, 128, pid + "smaps_rollup RSS");
        d.near(roll.pss_kb, p.total.pss_kb, 128, pid + "smaps_rollup PSS");
        d.near(roll.uss_kb, p.total.uss_kb, 128, pid + "smaps_rollup USS");
        d.near(roll.swap_kb, p.total.swap_kb, 128, pid + "smaps_rollup swap");
        d.check(p.read_seconds < 1.0, pid + "read in " + std::to_string(p.read_seconds) + " s");
    }
    return d;
}

TEST(memory, agrees_with_pmap_smem_and_smaps_rollup_on_a_512_MiB_segment) {
    constexpr std::size_t bytes = std::size_t{512} << 20;
    const std::string name = unique_name("family");
    shm_guard guard(name);
    family fam(name, bytes, 3);
    ASSERT_TRUE(fam.ready()) << "the parent and its 3 children did not reach the barrier";
    const std::string path = "/dev/shm/" + name;

    // Each comparison reads a live system, the tools one after the other: a page being
    // migrated (compaction) leaves RSS a few pages short for a moment, a process starting
    // elsewhere moves the PSS of shared libc pages. Up to 3 comparisons; one must agree fully.
    memory_report r;
    disagreements d;
    for (int attempt = 0; attempt < 3; ++attempt) {
        d = compare_with_the_tools(fam, path, bytes, r);
        if (d.found.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    for (const std::string& what : d.found) ADD_FAILURE() << what;
    ASSERT_TRUE(d.found.empty());

    const auto seg = std::find_if(r.segments.begin(), r.segments.end(),
                                  [&](const segment_memory& s) { return s.name == path; });
    ASSERT_NE(seg, r.segments.end());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(seg->inode, st.st_ino);
    EXPECT_EQ(seg->dev_id, st.st_dev);
    EXPECT_EQ(seg->processes, fam.pids());
    EXPECT_TRUE(seg->resident_exact);
    EXPECT_EQ(seg->size_kb, static_cast<std::uint64_t>(st.st_size) / 1024);
    EXPECT_GE(seg->resident_kb, bytes / 1024);
    EXPECT_LE(distance(seg->pss_sum_kb, seg->resident_kb), 4u) << seg->verdict;
    EXPECT_TRUE(seg->one_copy) << seg->verdict;
    EXPECT_NEAR(seg->processes_per_page, 4.0, 0.01);
    EXPECT_EQ(seg->verdict.rfind("one copy: sum of PSS ", 0), 0u) << seg->verdict;
    std::printf("verdict: %s\nread %zu processes in %.1f ms\n", seg->verdict.c_str(),
                r.processes.size(), r.read_seconds * 1e3);
}

// ---------------------------------------------------------------------------------------------
// Parsing and keying

TEST(memory, reads_its_own_mappings_like_pmap) {
    const std::string name = unique_name("own");
    shm_guard guard(name);
    auto a = shared_array<double>::create(name, {1000, 100});
    a.view().fill(2.0);
    const process_memory p = read_process_memory(::getpid());
    EXPECT_EQ(p.pid, ::getpid());
    EXPECT_EQ(p.command, "test_memory");
    const memory_mapping* m = find_mapping(p, "/dev/shm/" + name);
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->name == m->path || m->name.ends_with(" (deleted)")) << m->name;
    struct stat st {};
    ASSERT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
    EXPECT_EQ(m->inode, st.st_ino);
    EXPECT_EQ(m->dev_id, st.st_dev);
    EXPECT_EQ(m->dev.size(), 5u) << m->dev;
    EXPECT_TRUE(m->is_shared());
    EXPECT_EQ(m->kbytes, static_cast<std::uint64_t>(st.st_size) / 1024);
    EXPECT_EQ(m->rss_kb, m->kbytes);
    EXPECT_EQ(m->pss_kb, m->rss_kb) << "no other process maps it";
    EXPECT_EQ(m->uss_kb, m->rss_kb);
    EXPECT_EQ(m->dirty_kb, m->rss_kb);
    EXPECT_GE(p.shared.rss_kb, m->rss_kb);
    EXPECT_GT(p.total.rss_kb, p.shared.rss_kb);
    const auto stack = std::find_if(p.mappings.begin(), p.mappings.end(),
                                    [](const memory_mapping& x) { return x.name == "[stack]"; });
    ASSERT_NE(stack, p.mappings.end());
    EXPECT_EQ(stack->mode, "rw---");
    EXPECT_FALSE(stack->is_shared());
    EXPECT_TRUE(stack->path.empty());
    shared_array<double>::remove(name);
}

TEST(memory, two_anonymous_shared_mappings_are_two_segments) {
    constexpr std::size_t size = 64 * 4096;
    void* a = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    void* b = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(a, MAP_FAILED);
    ASSERT_NE(b, MAP_FAILED);
    std::memset(a, 1, size);
    std::memset(b, 1, size / 2);
    const memory_report r = inspect_memory({::getpid()});
    std::vector<const segment_memory*> zero;
    for (const segment_memory& s : r.segments)
        if (s.name == "/dev/zero (deleted)" && (s.rss_sum_kb == 256 || s.rss_sum_kb == 128))
            zero.push_back(&s);
    ASSERT_EQ(zero.size(), 2u) << "one segment for each mapping, never merged by name";
    EXPECT_NE(zero[0]->inode, zero[1]->inode);
    for (const segment_memory* s : zero) {
        EXPECT_EQ(s->pss_sum_kb, s->rss_sum_kb);
        EXPECT_EQ(s->resident_kb, s->rss_sum_kb) << s->verdict;
        EXPECT_TRUE(s->one_copy) << s->verdict;
    }
    ::munmap(a, size);
    ::munmap(b, size);
}

}  // namespace
}  // namespace shmpool
