// Tests of `shmpool doctor` (tools/shmpool/doctor.cpp), run as a child process
// (cli_test_support.hpp): the fixed list of checks, the exit code that follows the problems,
// the verdicts on what the test can see for itself (the file system of the shm directory, its
// huge= option, arrays left behind), and a directory that cannot be used.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_support.hpp"

namespace {

using nlohmann::json;
using shmpool::test::create_orphan;
using shmpool::test::private_dir;
using shmpool::test::run_cli;
using shmpool::test::run_result;
using shmpool::test::shown;

const std::vector<std::string> check_names{"shm_fs",
                                           "shm_space",
                                           "shm_huge_pages",
                                           "transparent_huge_pages",
                                           "memory",
                                           "kernel",
                                           "madv_populate_write",
                                           "o_tmpfile",
                                           "renameat2_noreplace",
                                           "pidfd_open",
                                           "mem_permissions",
                                           "leftovers"};

// `shmpool doctor --json` with `env`; the parsed report (null when the output is not JSON).
json doctor_json(const std::vector<std::string>& env, run_result& r) {
    r = run_cli({"doctor", "--json"}, env);
    return json::parse(r.out, nullptr, /*allow_exceptions=*/false);
}

const json& check_of(const json& report, const std::string& name) {
    static const json none;
    for (const json& c : report.at("checks"))
        if (c.at("name") == name) return c;
    return none;
}

bool is_tmpfs(const std::string& dir) {
    struct statfs st {};
    return ::statfs(dir.c_str(), &st) == 0 && st.f_type == TMPFS_MAGIC;
}

TEST(cli_doctor, reports_every_check_and_exits_1_only_with_a_problem) {
    run_result r;
    const json report = doctor_json({}, r);
    ASSERT_FALSE(report.is_discarded()) << shown(r);
    EXPECT_EQ(report.at("shm_dir"), "/dev/shm");
    std::vector<std::string> names;
    std::size_t problems = 0, notes = 0;
    for (const json& c : report.at("checks")) {
        names.push_back(c.at("name"));
        const std::string v = c.at("verdict");
        EXPECT_TRUE(v == "ok" || v == "note" || v == "problem") << c.dump();
        EXPECT_FALSE(c.at("detail").get<std::string>().empty()) << c.dump();
        problems += v == "problem";
        notes += v == "note";
    }
    EXPECT_EQ(names, check_names);
    EXPECT_EQ(report.at("problems"), problems);
    EXPECT_EQ(report.at("notes"), notes);
    EXPECT_EQ(r.status, problems > 0 ? 1 : 0) << shown(r);
    EXPECT_EQ(check_of(report, "shm_fs").at("verdict"), is_tmpfs("/dev/shm") ? "ok" : "problem");
}

TEST(cli_doctor, text_names_every_check_and_counts_the_verdicts) {
    run_result j;
    const json report = doctor_json({}, j);
    ASSERT_FALSE(report.is_discarded()) << shown(j);
    const run_result r = run_cli({"doctor"});
    EXPECT_EQ(r.status, j.status) << shown(r);
    for (const std::string& name : check_names)
        EXPECT_NE(r.out.find(" " + name + " "), std::string::npos) << name << "\n" << r.out;
    const std::size_t problems = report.at("problems"), notes = report.at("notes");
    const std::string summary = std::to_string(problems) +
                                (problems == 1 ? " problem, " : " problems, ") +
                                std::to_string(notes) + (notes == 1 ? " note" : " notes");
    EXPECT_NE(r.out.find(summary), std::string::npos) << r.out;
}

// The huge= option of the mount at /dev/shm, as /proc/self/mounts lists it ("" when none).
std::string huge_option_of_dev_shm() {
    std::ifstream in("/proc/self/mounts");
    std::string line, huge;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string dev, point, type, options;
        fields >> dev >> point >> type >> options;
        if (point != "/dev/shm") continue;
        huge.clear();  // the last mount listed wins
        std::istringstream opts(options);
        for (std::string o; std::getline(opts, o, ',');)
            if (o.starts_with("huge=")) huge = o.substr(5);
    }
    return huge;
}

TEST(cli_doctor, huge_pages_check_reads_the_mount_option) {
    if (!is_tmpfs("/dev/shm")) GTEST_SKIP() << "/dev/shm is not tmpfs here";
    run_result r;
    const json report = doctor_json({}, r);
    ASSERT_FALSE(report.is_discarded()) << shown(r);
    const json& c = check_of(report, "shm_huge_pages");
    const std::string huge = huge_option_of_dev_shm();
    const std::string detail = c.at("detail");
    EXPECT_NE(detail.find("huge=" + (huge.empty() ? std::string("never") : huge)),
              std::string::npos)
        << detail;
    if (huge != "within_size" && huge != "always" && c.at("verdict") == "note") {
        EXPECT_NE(c.at("fix").get<std::string>().find("remount,huge=within_size"),
                  std::string::npos)
            << c.dump();
    }
}

TEST(cli_doctor, a_missing_directory_is_a_problem_that_names_it) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    const std::string missing = dir.path + "/no_such_dir";
    run_result r;
    const json report = doctor_json({"SHMPOOL_SHM_DIR=" + missing}, r);
    ASSERT_FALSE(report.is_discarded()) << shown(r);
    EXPECT_EQ(r.status, 1) << shown(r);
    const json& fs = check_of(report, "shm_fs");
    EXPECT_EQ(fs.at("verdict"), "problem");
    EXPECT_NE(fs.at("detail").get<std::string>().find(missing), std::string::npos) << fs.dump();
    EXPECT_NE(fs.at("fix").get<std::string>().find("SHMPOOL_SHM_DIR"), std::string::npos);
    const std::string space = check_of(report, "shm_space").at("detail");
    EXPECT_TRUE(space.starts_with("not checked")) << space;
}

TEST(cli_doctor, file_system_verdict_follows_the_directory) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    run_result r;
    const json report = doctor_json({dir.env()}, r);
    ASSERT_FALSE(report.is_discarded()) << shown(r);
    EXPECT_EQ(report.at("shm_dir"), dir.path);
    const bool tmpfs = is_tmpfs(dir.path);
    EXPECT_EQ(check_of(report, "shm_fs").at("verdict"), tmpfs ? "ok" : "problem") << r.out;
    if (!tmpfs) {
        EXPECT_EQ(r.status, 1) << shown(r);
    }
    EXPECT_EQ(check_of(report, "leftovers").at("verdict"), "ok") << r.out;
}

TEST(cli_doctor, arrays_of_dead_creators_are_named_with_gc_as_the_fix) {
    const private_dir dir;
    ASSERT_FALSE(dir.path.empty());
    ASSERT_NO_FATAL_FAILURE(create_orphan(dir, "orphan", false));
    ASSERT_NO_FATAL_FAILURE(create_orphan(dir, "kept", true));
    run_result r;
    json report = doctor_json({dir.env()}, r);
    ASSERT_FALSE(report.is_discarded()) << shown(r);
    const json left = check_of(report, "leftovers");
    EXPECT_EQ(left.at("verdict"), "note") << left.dump();
    const std::string detail = left.at("detail");
    EXPECT_NE(detail.find("1 non-persistent array"), std::string::npos) << detail;
    EXPECT_NE(detail.find("orphan"), std::string::npos) << detail;
    EXPECT_EQ(detail.find("kept"), std::string::npos) << "a persistent array is no leftover";
    EXPECT_NE(left.at("fix").get<std::string>().find("shmpool gc"), std::string::npos);

    ASSERT_EQ(run_cli({"gc"}, {dir.env()}).status, 0);
    report = doctor_json({dir.env()}, r);
    EXPECT_EQ(check_of(report, "leftovers").at("verdict"), "ok") << r.out;
}

TEST(cli_doctor, an_unknown_option_is_a_usage_error) {
    const run_result r = run_cli({"doctor", "--fix"});
    EXPECT_EQ(r.status, 2) << shown(r);
    EXPECT_NE(r.err.find("--fix"), std::string::npos) << r.err;
}

}  // namespace
