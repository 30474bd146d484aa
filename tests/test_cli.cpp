// Tests of the `shmpool` command-line tool (tools/shmpool/), run as a child process
// (cli_test_support.hpp). SHMPOOL_CLI is the path of the binary. The gc tests run the tool on a
// private directory (SHMPOOL_SHM_DIR) so that they neither remove nor race with other programs'
// arrays.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli_test_support.hpp"
#include "shmpool/shmpool.hpp"
#include "test_support.hpp"

namespace {

using nlohmann::json;
using shmpool::test::create_orphan;
using shmpool::test::private_dir;
using shmpool::test::run_cli;
using shmpool::test::run_result;
using shmpool::test::shm_exists;
using shmpool::test::shm_guard;
using shmpool::test::shown;
using shmpool::test::unique_name;

// ---------------------------------------------------------------------------------------------
// Names, files and clean-up

std::string shm_path(const std::string& name) {
    return shmpool::detail::location::shm(name).path();
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void write_file(const std::string& path, std::string_view bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << "cannot create " << path << ": " << std::strerror(errno);
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    ::close(fd);
    ASSERT_EQ(n, static_cast<ssize_t>(bytes.size())) << "cannot write " << path;
}

// A .npy file as numpy writes it: float64, shape (2,), no shmpool creator record.
std::string npy_bytes() {
    std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    const std::size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
    dict.append(total - 10 - dict.size() - 1, ' ');
    dict += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(dict.size() & 0xff);
    out += static_cast<char>(dict.size() >> 8);
    out += dict;
    out.append(2 * sizeof(double), '\0');
    return out;
}

// ---------------------------------------------------------------------------------------------
// Reading the `ls` table: every column starts where its header word does.

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The line of the table whose NAME column is `name`, or "".
std::string row_of(const std::string& table, const std::string& name) {
    for (const std::string& line : lines_of(table))
        if (line.starts_with(name + " ")) return line;
    return "";
}

std::string trimmed(std::string s) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    return s;
}

// The cell of `row` under the header word `column`.
std::string cell(const std::string& table, const std::string& row, const std::string& column) {
    const std::string header = lines_of(table).at(0);
    const std::size_t begin = header.find(column);
    if (begin == std::string::npos || begin >= row.size()) return "<no column " + column + ">";
    std::size_t end = header.find_first_not_of(' ', header.find(' ', begin));
    if (end == std::string::npos) end = row.size();
    return trimmed(row.substr(begin, end - begin));
}

const json* find_array(const json& list, const std::string& name) {
    for (const json& a : list.at("arrays"))
        if (a.at("name") == name) return &a;
    return nullptr;
}

class cli : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::string_view(SHMPOOL_CLI).empty()) GTEST_SKIP() << "the shmpool tool is not built";
    }
};

// ---------------------------------------------------------------------------------------------
// ls

TEST_F(cli, ls_shows_a_created_array) {
    const std::string name = unique_name("ls");
    const shm_guard name_guard{name};
    const std::string name1 = unique_name("ls-1d");
    const shm_guard name1_guard{name1};
    shmpool::shared_array<double>::create(name, {3, 4});
    shmpool::shared_array<std::int32_t>::create(name1, {5});

    const run_result r = run_cli({"ls"});
    ASSERT_EQ(r.status, 0) << shown(r);
    EXPECT_TRUE(r.out.starts_with("NAME ")) << shown(r);
    const std::string row = row_of(r.out, name);
    ASSERT_FALSE(row.empty()) << shown(r);
    EXPECT_EQ(cell(r.out, row, "TYPE"), "float64") << row;
    EXPECT_EQ(cell(r.out, row, "SHAPE"), "(3, 4)") << row;
    EXPECT_EQ(cell(r.out, row, "CREATOR"), std::to_string(::getpid())) << row;
    EXPECT_EQ(cell(r.out, row, "ALIVE"), "yes") << row;
    EXPECT_EQ(cell(r.out, row, "PERSISTENT"), "no") << row;
    EXPECT_NE(cell(r.out, row, "BYTES").find("B"), std::string::npos) << row;

    const std::string row1 = row_of(r.out, name1);
    ASSERT_FALSE(row1.empty()) << shown(r);
    EXPECT_EQ(cell(r.out, row1, "TYPE"), "int32") << row1;
    EXPECT_EQ(cell(r.out, row1, "SHAPE"), "(5,)") << row1;
}

TEST_F(cli, ls_marks_arrays_numpy_wrote) {
    const std::string name = unique_name("npy");
    const shm_guard name_guard{name};
    ASSERT_NO_FATAL_FAILURE(write_file(shm_path(name), npy_bytes()));

    const run_result r = run_cli({"ls"});
    ASSERT_EQ(r.status, 0) << shown(r);
    const std::string row = row_of(r.out, name);
    ASSERT_FALSE(row.empty()) << shown(r);
    EXPECT_EQ(cell(r.out, row, "CREATOR"), "numpy") << row;
    EXPECT_EQ(cell(r.out, row, "SHAPE"), "(2,)") << row;

    const run_result j = run_cli({"info", name, "--json"});
    ASSERT_EQ(j.status, 0) << shown(j);
    EXPECT_EQ(json::parse(j.out).at("made_by_shmpool"), false);
}

TEST_F(cli, ls_json_holds_the_array) {
    const std::string name = unique_name("ls-json");
    const shm_guard name_guard{name};
    shmpool::shared_array<double>::create(name, {3, 4});

    const run_result r = run_cli({"ls", "--json"});
    ASSERT_EQ(r.status, 0) << shown(r);
    const json list = json::parse(r.out);
    ASSERT_TRUE(list.at("arrays").is_array());
    const json* a = find_array(list, name);
    ASSERT_NE(a, nullptr) << r.out;
    EXPECT_EQ(a->at("path"), shm_path(name));
    EXPECT_EQ(a->at("dtype"), "float64");
    EXPECT_EQ(a->at("shape"), json::array({3, 4}));
    EXPECT_EQ(a->at("data_bytes"), 3 * 4 * sizeof(double));
    EXPECT_GE(a->at("file_bytes").get<std::size_t>(), 3 * 4 * sizeof(double));
    EXPECT_EQ(a->at("made_by_shmpool"), true);
    EXPECT_EQ(a->at("creator_pid"), ::getpid());
    EXPECT_EQ(a->at("creator_alive"), true);
    EXPECT_EQ(a->at("persistent"), false);
    EXPECT_GT(a->at("created_unix_ns").get<std::int64_t>(), 0);
}

// ---------------------------------------------------------------------------------------------
// info

TEST_F(cli, info_lists_the_columns_of_a_frozen_store) {
    const std::string name = unique_name("info_frozen");
    const shm_guard name_guard{name};
    shmpool::frozen_builder b;
    auto keys = b.strings("key");
    auto values = b.ragged<float>("values", true);
    b.index("by_key", "key");
    keys.push_back("a");
    values.push_back({1.0f, 2.0f});
    EXPECT_EQ(b.publish(name).rows(), 1u);

    const run_result r = run_cli({"info", name, "--json"});
    ASSERT_EQ(r.status, 0) << shown(r);
    const json doc = json::parse(r.out);
    EXPECT_EQ(doc.at("kind"), "frozen");
    const json& cols = doc.at("columns");
    ASSERT_EQ(cols.size(), 3u) << r.out;
    EXPECT_EQ(cols[1].at("name"), "values");
    EXPECT_EQ(cols[1].at("kind"), "ragged");
    EXPECT_EQ(cols[1].at("dtype"), "float32");
    EXPECT_EQ(cols[1].at("deduplicated"), true);
    EXPECT_EQ(cols[2].at("keys"), "key");
    const run_result text = run_cli({"info", name});
    ASSERT_EQ(text.status, 0) << shown(text);
    EXPECT_NE(text.out.find("keys: key"), std::string::npos) << text.out;
    const run_result rm = run_cli({"rm", name});
    EXPECT_EQ(rm.status, 0) << shown(rm);
}

TEST_F(cli, info_describes_one_array) {
    const std::string name = unique_name("info");
    const shm_guard name_guard{name};
    shmpool::shared_array<float>::create(name, {10, 2});

    const run_result r = run_cli({"info", name});
    ASSERT_EQ(r.status, 0) << shown(r);
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(shm_path(name)), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("float32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(10, 2)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::to_string(::getpid())), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Z\n"), std::string::npos) << "no ISO-8601 UTC time:\n" << r.out;
}

TEST_F(cli, info_json_is_one_array_object) {
    const std::string name = unique_name("info-json");
    const shm_guard name_guard{name};
    shmpool::shared_array<std::uint8_t>::create(name, {7}, {.persistent = true});

    const run_result r = run_cli({"info", name, "--json"});
    ASSERT_EQ(r.status, 0) << shown(r);
    const json a = json::parse(r.out);
    EXPECT_EQ(a.at("name"), name);
    EXPECT_EQ(a.at("dtype"), "uint8");
    EXPECT_EQ(a.at("shape"), json::array({7}));
    EXPECT_EQ(a.at("data_bytes"), 7);
    EXPECT_EQ(a.at("creator_pid"), ::getpid());
    EXPECT_EQ(a.at("creator_alive"), true);
    EXPECT_EQ(a.at("persistent"), true);
}

TEST_F(cli, info_of_a_missing_name_exits_3) {
    const std::string name = unique_name("missing");
    const run_result r = run_cli({"info", name});
    EXPECT_EQ(r.status, 3) << shown(r);
    EXPECT_TRUE(r.err.starts_with("shmpool: ")) << r.err;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST_F(cli, info_accepts_a_file_path) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string path = dir.file("grid.npy");
    shmpool::shared_array<double>::create(shmpool::file_path{path}, {2, 2});

    const run_result r = run_cli({"info", path, "--json"});
    ASSERT_EQ(r.status, 0) << shown(r);
    EXPECT_EQ(json::parse(r.out).at("path"), path);
    shmpool::shared_array<double>::remove(shmpool::file_path{path});
}

// ---------------------------------------------------------------------------------------------
// rm

TEST_F(cli, rm_removes_arrays) {
    const std::string name = unique_name("rm");
    const shm_guard name_guard{name};
    const std::string name2 = unique_name("rm");
    const shm_guard name2_guard{name2};
    shmpool::shared_array<double>::create(name, {4});
    shmpool::shared_array<std::int64_t>::create(name2, {2, 2}, {.persistent = true});
    ASSERT_TRUE(shm_exists(name));

    const run_result r = run_cli({"rm", name, name2});
    ASSERT_EQ(r.status, 0) << shown(r);
    EXPECT_FALSE(shm_exists(name));
    EXPECT_FALSE(shm_exists(name2));
}

TEST_F(cli, rm_of_a_missing_name_exits_3) {
    const std::string name = unique_name("missing");
    const run_result r = run_cli({"rm", name});
    EXPECT_EQ(r.status, 3) << shown(r);
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
}

TEST_F(cli, rm_refuses_a_file_that_is_not_an_array) {
    const std::string name = unique_name("junk");
    const shm_guard name_guard{name};
    ASSERT_NO_FATAL_FAILURE(write_file(shm_path(name), "this is not an array\n"));

    const run_result r = run_cli({"rm", name});
    EXPECT_EQ(r.status, 4) << shown(r);
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_TRUE(shm_exists(name)) << "rm removed a file that is not an array";

    const run_result info = run_cli({"info", name});
    EXPECT_EQ(info.status, 4) << shown(info);
}

TEST_F(cli, rm_refuses_a_fifo_without_blocking) {
    const std::string name = unique_name("fifo");
    const shm_guard name_guard{name};
    ASSERT_EQ(::mkfifo(shm_path(name).c_str(), 0600), 0) << std::strerror(errno);

    const run_result r = run_cli({"rm", name});
    EXPECT_EQ(r.status, 4) << shown(r);
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_TRUE(shm_exists(name));
    EXPECT_EQ(run_cli({"info", name}).status, 4);
}

// ---------------------------------------------------------------------------------------------
// gc, on a private directory

TEST_F(cli, gc_removes_orphans_and_keeps_the_rest) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    ASSERT_NO_FATAL_FAILURE(create_orphan(dir, "orphan", false));
    ASSERT_NO_FATAL_FAILURE(create_orphan(dir, "kept", true));
    shmpool::shared_array<double>::create(shmpool::file_path{dir.file("live")}, {1});

    const run_result ls = run_cli({"ls"}, {dir.env()});
    ASSERT_EQ(ls.status, 0) << shown(ls);
    EXPECT_EQ(cell(ls.out, row_of(ls.out, "orphan"), "ALIVE"), "no") << ls.out;
    EXPECT_EQ(cell(ls.out, row_of(ls.out, "kept"), "PERSISTENT"), "yes") << ls.out;
    EXPECT_EQ(cell(ls.out, row_of(ls.out, "live"), "ALIVE"), "yes") << ls.out;

    const run_result dry = run_cli({"gc", "--dry-run"}, {dir.env()});
    ASSERT_EQ(dry.status, 0) << shown(dry);
    EXPECT_EQ(dry.out, "would remove orphan\n") << shown(dry);
    EXPECT_TRUE(exists(dir.file("orphan")));

    const run_result dry_json = run_cli({"gc", "--dry-run", "--json"}, {dir.env()});
    ASSERT_EQ(dry_json.status, 0) << shown(dry_json);
    EXPECT_EQ(json::parse(dry_json.out).at("removed"), json::array({"orphan"}));
    EXPECT_TRUE(exists(dir.file("orphan")));

    const run_result gc = run_cli({"gc"}, {dir.env()});
    ASSERT_EQ(gc.status, 0) << shown(gc);
    EXPECT_EQ(gc.out, "removed orphan\n") << shown(gc);
    EXPECT_FALSE(exists(dir.file("orphan")));
    EXPECT_TRUE(exists(dir.file("kept")));
    EXPECT_TRUE(exists(dir.file("live")));

    const run_result again = run_cli({"gc", "--json"}, {dir.env()});
    ASSERT_EQ(again.status, 0) << shown(again);
    EXPECT_EQ(json::parse(again.out).at("removed"), json::array());

    shmpool::shared_array<double>::remove(shmpool::file_path{dir.file("live")});
    shmpool::shared_array<float>::remove(shmpool::file_path{dir.file("kept")});
}

TEST_F(cli, ls_of_an_empty_directory_prints_the_header) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    const run_result r = run_cli({"ls"}, {dir.env()});
    ASSERT_EQ(r.status, 0) << shown(r);
    EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;
    EXPECT_TRUE(r.out.starts_with("NAME ")) << r.out;

    const run_result j = run_cli({"ls", "--json"}, {dir.env()});
    ASSERT_EQ(j.status, 0) << shown(j);
    EXPECT_EQ(json::parse(j.out), json::parse(R"({"arrays": []})"));
}

// ---------------------------------------------------------------------------------------------
// Usage

TEST_F(cli, help_lists_the_subcommands_and_exit_codes) {
    const run_result r = run_cli({"--help"});
    ASSERT_EQ(r.status, 0) << shown(r);
    for (const char* word : {"ls", "info", "rm", "gc", "Exit codes"})
        EXPECT_NE(r.out.find(word), std::string::npos) << word << " missing from\n" << r.out;

    for (const char* sub : {"ls", "info", "rm", "gc"}) {
        const run_result s = run_cli({sub, "--help"});
        EXPECT_EQ(s.status, 0) << sub << ": " << shown(s);
        EXPECT_NE(s.out.find(std::string("shmpool ") + sub), std::string::npos) << s.out;
    }
}

TEST_F(cli, version_prints_the_version) {
    const run_result r = run_cli({"--version"});
    EXPECT_EQ(r.status, 0) << shown(r);
    EXPECT_NE(r.out.find("0.1.0"), std::string::npos) << r.out;
}

TEST_F(cli, usage_errors_exit_2) {
    const run_result unknown = run_cli({"frobnicate"});
    EXPECT_EQ(unknown.status, 2) << shown(unknown);
    EXPECT_NE(unknown.err.find("frobnicate"), std::string::npos) << unknown.err;

    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {}, {"info"}, {"rm"}, {"ls", "--bogus"}, {"info", ".."}}) {
        const run_result r = run_cli(args);
        EXPECT_EQ(r.status, 2) << shown(r);
        EXPECT_TRUE(r.err.starts_with("shmpool: ")) << r.err;
    }
}

}  // namespace
