// Tests of `shmpool mem` (tools/shmpool.cpp), run as a child process (SHMPOOL_CLI is the path of
// the binary): its JSON and text output for a family of processes sharing an array
// (tests/memory_test_support.hpp), --root and --name, --watch, messages and exit codes for bad
// input, and another user's process, as user nobody.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "memory_test_support.hpp"
#include "test_support.hpp"

#ifndef SHMPOOL_CLI
#error "compile with -DSHMPOOL_CLI='\"/path/to/shmpool\"'"
#endif

namespace shmpool {
namespace {

using test::become_nobody;
using test::distance;
using test::family;
using test::nobody;
using test::run_in_child;
using test::shm_guard;
using test::unique_name;

// ---------------------------------------------------------------------------------------------
// `shmpool mem`

struct cli_result {
    int status = -1;
    std::string out;
    std::string err;
};

// Reads a pipe to its end.
std::string slurp(int fd) {
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0)
            text.append(buf, static_cast<std::size_t>(n));
        else if (n == 0 || errno != EINTR)
            return text;
    }
}

// Whether user nobody may execute `path` (every directory on the way must let it in).
bool nobody_can_execute(const std::string& path) {
    return run_in_child([&] {
               if (!become_nobody()) return 2;
               return ::access(path.c_str(), X_OK) == 0 ? 0 : 1;
           }) == 0;
}

// The CLI, where user nobody can run it: SHMPOOL_CLI itself, or, when the build lies out of
// nobody's reach (a clone under /root or `mktemp -d`, mode 0700), a copy in a fresh directory
// of /tmp that nobody may enter. Removed at exit.
class cli_for_nobody {
public:
    static const std::string& path() {
        static const cli_for_nobody cli;
        return cli.path_;
    }

private:
    cli_for_nobody() {
        path_ = SHMPOOL_CLI;
        if (nobody_can_execute(path_)) return;
        char dir[] = "/tmp/shmpool_test_cli_XXXXXX";
        if (::mkdtemp(dir) == nullptr || ::chmod(dir, 0755) != 0) return;
        dir_ = dir;
        const std::string copy = dir_ + "/shmpool";
        std::error_code ec;
        std::filesystem::copy_file(SHMPOOL_CLI, copy, ec);
        if (!ec && ::chmod(copy.c_str(), 0755) == 0) path_ = copy;
    }
    ~cli_for_nobody() {
        if (dir_.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    std::string path_, dir_;
};

// Runs `shmpool args...` (as user nobody when `as_nobody`); stderr goes to a file.
cli_result run_cli(std::vector<std::string> args, bool as_nobody = false) {
    const std::string err_file = "/tmp/" + unique_name("mem_stderr");
    test::unlink_guard err_guard(err_file);
    args.insert(args.begin(), as_nobody ? cli_for_nobody::path() : std::string(SHMPOOL_CLI));
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {};
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::alarm(60);
        const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (err < 0 || ::dup2(out[1], 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
        if (as_nobody && (::fchown(err, nobody, nobody) != 0 || !become_nobody())) ::_exit(125);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    cli_result r;
    r.out = slurp(out[0]);
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream in(err_file);
    std::getline(in, r.err, '\0');
    return r;
}

std::string shown(const cli_result& r) {
    return "exit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

std::vector<std::string> pid_args(const std::vector<pid_t>& pids) {
    std::vector<std::string> out;
    for (pid_t p : pids) out.push_back(std::to_string(p));
    return out;
}

TEST(memory_cli, json_for_a_pid_list_has_the_fixed_fields) {
    const std::string name = unique_name("cli_json");
    shm_guard guard(name);
    family fam(name, std::size_t{8} << 20, 3);
    ASSERT_TRUE(fam.ready());
    std::vector<std::string> args{"mem", "--json"};
    for (const std::string& p : pid_args(fam.pids())) args.push_back(p);
    const std::string path = "/dev/shm/" + name;
    // A page being migrated (compaction) is missing from RSS for a moment: a second reading
    // if the first saw fewer pages than the family touched.
    const auto all_resident = [&](const nlohmann::json& j) {
        for (const nlohmann::json& p : j.at("processes"))
            for (const nlohmann::json& m : p.at("mappings"))
                if (m.value("path", "") == path && m.value("rss_kb", 0u) < 8192u) return false;
        return true;
    };
    cli_result r;
    nlohmann::json j;
    for (int attempt = 0; attempt < 3; ++attempt) {
        r = run_cli(args);
        ASSERT_EQ(r.status, 0) << shown(r);
        j = nlohmann::json::parse(r.out);
        if (all_resident(j)) break;
    }
    ASSERT_EQ(j.at("processes").size(), 4u);
    for (const nlohmann::json& p : j.at("processes")) {
        for (const char* key : {"pid", "rss_kb", "pss_kb", "uss_kb", "swap_kb", "mappings"})
            EXPECT_TRUE(p.contains(key)) << key;
        EXPECT_GT(p.at("rss_kb").get<std::uint64_t>(), 0u);
        bool found = false;
        for (const nlohmann::json& m : p.at("mappings")) {
            for (const char* key : {"start", "kbytes", "rss_kb", "pss_kb", "dirty_kb", "mode",
                                    "name", "dev", "inode"})
                ASSERT_TRUE(m.contains(key)) << key;
            if (m.at("path") != path) continue;
            found = true;
            EXPECT_EQ(m.at("mode"), "rw-s-");
            EXPECT_GE(m.at("rss_kb").get<std::uint64_t>(), 8192u);
        }
        EXPECT_TRUE(found) << p.at("pid");
    }
    bool segment_found = false;
    for (const nlohmann::json& s : j.at("segments")) {
        for (const char* key : {"name", "dev", "inode", "resident_kb", "pss_sum_kb", "processes"})
            ASSERT_TRUE(s.contains(key)) << key;
        if (s.at("name") != path) continue;
        segment_found = true;
        EXPECT_EQ(s.at("processes").get<std::vector<pid_t>>(), fam.pids());
        EXPECT_LE(distance(s.at("pss_sum_kb").get<std::uint64_t>(),
                           s.at("resident_kb").get<std::uint64_t>()),
                  4u);
        EXPECT_TRUE(s.at("one_copy").get<bool>());
    }
    EXPECT_TRUE(segment_found);
}

TEST(memory_cli, text_shows_pmap_columns_and_the_verdict) {
    const std::string name = unique_name("cli_text");
    shm_guard guard(name);
    family fam(name, std::size_t{8} << 20, 1);
    ASSERT_TRUE(fam.ready());
    std::vector<std::string> args{"mem"};
    for (const std::string& p : pid_args(fam.pids())) args.push_back(p);
    const cli_result r = run_cli(args);
    ASSERT_EQ(r.status, 0) << shown(r);
    for (const char* text :
         {"PID", "RSS kB", "PSS kB", "USS kB", "SWAP kB", "SHARED PSS", "Address", "Kbytes",
          "Dirty", "Mode", "rw-s-", "Mapping", "one copy: sum of PSS", "processes per page"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
    EXPECT_NE(r.out.find("/dev/shm/" + name), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
}

// The words of the last line of `text` that starts with `label`.
std::vector<std::string> last_row(const std::string& text, const std::string& label) {
    std::istringstream in(text);
    std::vector<std::string> row;
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with(label)) continue;
        std::istringstream fields(line.substr(label.size()));
        row.clear();
        for (std::string w; fields >> w;) row.push_back(w);
    }
    return row;
}

TEST(memory_cli, total_is_pmaps_total_and_names_are_pmaps) {
    const std::string name = unique_name("cli_pmap");
    shm_guard guard(name);
    family fam(name, std::size_t{4} << 20, 1);
    ASSERT_TRUE(fam.ready());
    const std::string pid = std::to_string(fam.pids().back());  // a child, asleep: fixed maps
    std::string pmap;
    ASSERT_EQ(test::run_command("pmap -x " + pid, &pmap), 0) << pmap;
    for (const bool all : {false, true}) {
        std::vector<std::string> args{"mem", pid};
        if (all) args.push_back("--all");
        const cli_result r = run_cli(args);
        ASSERT_EQ(r.status, 0) << shown(r);
        // pmap -x: "total kB KBYTES RSS DIRTY"; shmpool: "total kB KBYTES RSS PSS DIRTY".
        const std::vector<std::string> theirs = last_row(pmap, "total kB");
        const std::vector<std::string> ours = last_row(r.out, "total kB");
        ASSERT_EQ(theirs.size(), 3u) << pmap;
        ASSERT_EQ(ours.size(), 4u) << r.out;
        EXPECT_EQ(ours[0], theirs[0]) << "Kbytes\n" << r.out << pmap;
        EXPECT_EQ(ours[1], theirs[1]) << "RSS\n" << r.out << pmap;
        EXPECT_EQ(ours[3], theirs[2]) << "Dirty\n" << r.out << pmap;
        EXPECT_EQ(all, last_row(r.out, "shared kB").empty()) << r.out;
        // The mapping column shows the base name, as pmap does; the segment list the full path.
        EXPECT_NE(r.out.find("rw-s-  "), std::string::npos) << r.out;
        EXPECT_NE(r.out.find(" " + name + "\n"), std::string::npos) << r.out;
        EXPECT_NE(pmap.find(" " + name + "\n"), std::string::npos) << pmap;
        EXPECT_NE(r.out.find("/dev/shm/" + name + " ["), std::string::npos) << r.out;
    }
}

TEST(memory_cli, root_and_name_select_the_family) {
    const std::string name = unique_name("cli_select");
    shm_guard guard(name);
    family fam(name, std::size_t{4} << 20, 2);
    ASSERT_TRUE(fam.ready());
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"mem", "--json", "--root", std::to_string(fam.parent())},
          std::vector<std::string>{"mem", "--json", "--name", name}}) {
        const cli_result r = run_cli(args);
        ASSERT_EQ(r.status, 0) << shown(r);
        const nlohmann::json j = nlohmann::json::parse(r.out);
        std::vector<pid_t> pids;
        for (const nlohmann::json& p : j.at("processes")) pids.push_back(p.at("pid").get<pid_t>());
        std::sort(pids.begin(), pids.end());
        EXPECT_EQ(pids, fam.pids()) << args[2];
    }
}

TEST(memory_cli, watch_prints_one_json_object_per_line) {
    const cli_result r =
        run_cli({"mem", "--json", "--watch", "0.05", "--count", "3", std::to_string(::getpid())});
    ASSERT_EQ(r.status, 0) << shown(r);
    std::istringstream in(r.out);
    int lines = 0;
    for (std::string line; std::getline(in, line); ++lines)
        EXPECT_EQ(nlohmann::json::parse(line).at("processes").size(), 1u);
    EXPECT_EQ(lines, 3);
}

TEST(memory_cli, bad_input_gets_a_message_and_an_exit_code) {
    const pid_t gone = ::fork();
    if (gone == 0) ::_exit(0);
    ASSERT_GT(gone, 0);
    ::waitpid(gone, nullptr, 0);
    struct expectation {
        std::vector<std::string> args;
        int status;
        std::string message;
    };
    const std::string unmapped = unique_name("cli_unmapped");
    shm_guard guard(unmapped);
    std::ofstream("/dev/shm/" + unmapped) << "x";
    const std::string me = std::to_string(::getpid());
    const std::vector<expectation> cases{
        {{"mem", std::to_string(gone)}, 3, "no process " + std::to_string(gone)},
        {{"mem", "--json", me, std::to_string(gone)}, 3, "no process " + std::to_string(gone)},
        {{"mem", "12abc"}, 2, "not a process ID: '12abc'"},
        {{"mem"}, 2, "say which processes"},
        {{"mem", me, "--root", me}, 2, "excludes"},
        {{"mem", "--name", unmapped}, 3, "maps segment '" + unmapped + "'"},
        {{"mem", "--name", unique_name("missing")}, 3, "cannot find segment"},
        {{"mem", "--watch", "-1", me}, 2, "--watch: SECONDS must be greater than 0 (got -1)"},
        {{"mem", "--watch", "0", me}, 2, "--watch: SECONDS must be greater than 0 (got 0)"},
        {{"mem", "--watch", "soon", me}, 2, "SECONDS must be a number of seconds, not 'soon'"},
    };
    for (const expectation& e : cases) {
        const cli_result r = run_cli(e.args);
        EXPECT_EQ(r.status, e.status) << shown(r);
        EXPECT_EQ(r.err.rfind("shmpool: ", 0), 0u) << shown(r);
        EXPECT_NE(r.err.find(e.message), std::string::npos) << e.message << "\n" << shown(r);
        EXPECT_TRUE(r.out.empty()) << shown(r);
    }
}

TEST(memory_cli, another_users_process_fails_with_a_clear_error) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to become another user";
    const std::string me = std::to_string(::getpid());
    const cli_result r = run_cli({"mem", "--json", me}, true);
    if (r.status == 127)  // execv failed, or the loader (a shared build's libshmpool.so)
        GTEST_SKIP() << "the CLI cannot be run as user nobody here (" << cli_for_nobody::path()
                     << "): " << r.err;
    EXPECT_EQ(r.status, 1) << shown(r);
    EXPECT_TRUE(r.out.empty()) << "never zeros:\n" << shown(r);
    EXPECT_EQ(r.err.rfind("shmpool: cannot read /proc/" + me + "/smaps", 0), 0u) << shown(r);
    EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << shown(r);
}

}  // namespace
}  // namespace shmpool
