// Tests of shmpool::frozen and shmpool::frozen_builder: round trips of every column kind,
// indexes, errors that name what is wrong, corrupt stores, a killed builder, pool tasks.
#include "shmpool/frozen.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "shmpool/catalog.hpp"
#include "shmpool/frozen_builder.hpp"
#include "shmpool/process_pool.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

std::string key(std::size_t i) {
    char text[32];
    std::snprintf(text, sizeof text, "key%07zu", i);
    return text;
}

// A store of n rows: name (strings, indexed), id (int64, indexed), features (3 floats),
// tags (ragged int32, de-duplicated), related (ragged int64 row ids).
frozen build(const std::string& name, std::size_t n, const create_options& opts = {},
             const frozen_build_options& how = {}) {
    frozen_builder b(how);
    auto names = b.strings("name");
    auto ids = b.array<std::int64_t>("id");
    auto features = b.array<float>("features", {3});
    auto tags = b.ragged<std::int32_t>("tags", true);
    auto related = b.ragged<std::int64_t>("related");
    b.index("by_name", "name");
    b.index("by_id", "id");
    for (std::size_t i = 0; i < n; ++i) {
        names.push_back(key(i));
        ids.push_back(static_cast<std::int64_t>(i) * 1000 - 7);
        const float f = static_cast<float>(i);
        features.push_back({f, f + 0.5f, -f});
        std::vector<std::int32_t> t(i % 5, static_cast<std::int32_t>(i % 3));
        tags.push_back(t);
        std::vector<std::int64_t> r;
        for (std::size_t k = 1; k <= i % 4; ++k) r.push_back(static_cast<std::int64_t>((i + k) % n));
        related.push_back(r);
    }
    EXPECT_EQ(b.rows(), n);
    return b.publish(name, opts);
}

void verify(const frozen& f, std::size_t n) {
    ASSERT_EQ(f.rows(), n);
    const auto names = f.strings("name");
    const auto ids = f.array<std::int64_t>("id");
    const auto features = f.array<float>("features");
    const auto tags = f.ragged<std::int32_t>("tags");
    const auto related = f.ragged<std::int64_t>("related");
    const auto by_name = f.index("by_name");
    const auto by_id = f.index("by_id");
    for (std::size_t i = 0; i < n; ++i) {
        ASSERT_EQ(names[i], key(i));
        ASSERT_EQ(ids[i], static_cast<std::int64_t>(i) * 1000 - 7);
        ASSERT_EQ(features.row(i)[1], static_cast<float>(i) + 0.5f);
        ASSERT_EQ(tags[i].size(), i % 5);
        for (std::int32_t t : tags[i]) ASSERT_EQ(t, static_cast<std::int32_t>(i % 3));
        ASSERT_EQ(related[i].size(), i % 4);
        ASSERT_EQ(by_name.find(key(i)), i);
        ASSERT_EQ(by_id.at(static_cast<std::int64_t>(i) * 1000 - 7), i);
    }
    EXPECT_FALSE(by_name.find("nokey").has_value());
    EXPECT_FALSE(by_id.find(std::int64_t{1}).has_value());
    EXPECT_FALSE(by_name.find(std::int64_t{-7}).has_value()) << "an int key in a string index";
}

TEST(frozen, every_column_kind_round_trips) {
    const std::string name = unique_name("frozen");
    shm_guard guard(name);
    const frozen made = build(name, 1000);
    verify(made, 1000);
    verify(frozen::open(name), 1000);
    const auto view = made.array<float>("features").view();
    EXPECT_EQ(view.shape()[0], 1000u);
    EXPECT_EQ(view.shape()[1], 3u);
    EXPECT_EQ(view(10, 2), -10.0f);
    // De-duplication: tags hold 15 distinct rows (length i % 5, value i % 3) at most.
    EXPECT_LE(made.ragged<std::int32_t>("tags").values().size(), 3u * (0 + 1 + 2 + 3 + 4));
    frozen::remove(name);
    EXPECT_FALSE(shm_exists(name));
}

TEST(frozen, columns_are_listed_and_the_store_is_in_the_catalog) {
    const std::string name = unique_name("frozen_ls");
    shm_guard guard(name);
    const frozen f = build(name, 50);
    const std::vector<frozen_column_info> cols = f.columns();
    ASSERT_EQ(cols.size(), 7u);
    EXPECT_EQ(cols[0].name, "name");
    EXPECT_EQ(cols[0].kind, "strings");
    EXPECT_EQ(cols[2].shape, (std::vector<std::size_t>{50, 3}));
    EXPECT_TRUE(cols[3].deduplicated);
    EXPECT_EQ(cols[5].kind, "index");
    EXPECT_EQ(cols[5].keys, "name");
    const array_info info = describe_array(name);
    EXPECT_EQ(info.kind, "frozen");
    EXPECT_EQ(info.type, "shmpool::frozen");
    struct stat st {};
    ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(frozen, errors_name_the_column_and_what_it_is) {
    const std::string name = unique_name("frozen_err");
    shm_guard guard(name);
    const frozen f = build(name, 10);
    try {
        f.ragged<float>("missing");
        ADD_FAILURE();
    } catch (const not_found_error& e) {
        EXPECT_NE(std::string(e.what()).find("no column 'missing'"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("tags (ragged)"), std::string::npos) << e.what();
    }
    try {
        f.ragged<float>("tags");
        ADD_FAILURE();
    } catch (const type_mismatch_error& e) {
        EXPECT_NE(std::string(e.what()).find("ragged of int32, not ragged of float32"),
                  std::string::npos) << e.what();
    }
    EXPECT_THROW(f.strings("features"), type_mismatch_error);
    EXPECT_THROW(f.strings("name")[10], invalid_argument_error);
    EXPECT_THROW(f.index("by_name").at("nokey"), not_found_error);
    EXPECT_THROW(frozen::open(unique_name("absent")), not_found_error);
    const std::string array = unique_name("not_frozen");
    shm_guard g2(array);
    shared_array<float>::create(array, {4});
    EXPECT_THROW(frozen::open(array), type_mismatch_error);
    EXPECT_THROW(frozen::remove(array), type_mismatch_error);
    EXPECT_TRUE(shm_exists(array));
}

TEST(frozen, the_builder_refuses_what_it_cannot_store) {
    frozen_builder b;
    auto a = b.array<float>("a", {2});
    EXPECT_THROW(a.push_back({1.0f, 2.0f, 3.0f}), invalid_argument_error);
    EXPECT_THROW(b.strings("a"), invalid_argument_error) << "a name taken";
    EXPECT_THROW(b.strings(""), invalid_argument_error);
    EXPECT_THROW(b.index("ix", "a"), invalid_argument_error) << "float keys";
    auto s = b.strings("s");
    b.index("by_s", "s");
    a.push_back({1.0f, 2.0f});
    s.push_back("x");
    a.push_back({1.0f, 2.0f});
    const std::string name = unique_name("frozen_refused");
    shm_guard guard(name);
    try {
        b.publish(name);
        ADD_FAILURE() << "columns of 2 and 1 rows were published";
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("column 's' has 1 rows"), std::string::npos) << e.what();
    }
    s.push_back("x");
    try {
        b.publish(name);
        ADD_FAILURE() << "a duplicate key was published";
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("the key 'x' appears in rows 0 and 1"),
                  std::string::npos) << e.what();
    }
    EXPECT_FALSE(shm_exists(name));
}

// Overwrites `bytes` at `offset` of the store's data (after the 4096-byte header).
void patch(const std::string& name, std::size_t offset, const std::string& bytes) {
    std::fstream f("/dev/shm/" + name, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(4096 + offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Builds the store in a child, so that this process never maps it (a process reads a store's
// table once, when it maps it: the corruptions below must be read by fresh processes).
void build_elsewhere(const std::string& name, std::size_t n) {
    ASSERT_EQ(run_in_child([&] {
                  build(name, n, {.persistent = true});
                  return 0;
              }),
              0);
}

TEST(frozen, a_corrupt_store_is_a_format_error_naming_it) {
    const std::string name = unique_name("frozen_bad");
    shm_guard guard(name);
    build_elsewhere(name, 100);
    EXPECT_EQ(run_in_child([&] { return frozen::open(name).rows() == 100 ? 0 : 1; }), 0);
    const auto reopen_fails = [&](const std::string& what) {
        const int rc = run_in_child([&] {  // a fresh process: nothing of the store mapped
            try {
                frozen::open(name);
                return 1;
            } catch (const format_error& e) {
                return std::string(e.what()).find(name) != std::string::npos ? 0 : 2;
            }
        });
        EXPECT_EQ(rc, 0) << what;
    };
    patch(name, 0, "XHMPFRZ1");
    reopen_fails("bad magic");
    patch(name, 0, "SHMPFRZ1");
    patch(name, 64 + 128 + 60 + 16, std::string("\xff\xff\xff\x7f", 4));  // column 0's offset
    reopen_fails("a section outside the store");
}

TEST(frozen, fuzzed_tables_of_contents_never_crash) {
    const std::string name = unique_name("frozen_fuzz");
    shm_guard guard(name);
    build_elsewhere(name, 20);
    std::mt19937 rng(12345);
    int refused = 0;
    for (int trial = 0; trial < 200; ++trial) {
        std::string junk(4, '\0');
        for (char& c : junk) c = static_cast<char>(rng());
        patch(name, rng() % (64 + 7 * 256), junk);
        const int rc = run_in_child([&] {
            try {
                const frozen f = frozen::open(name);
                for (const frozen_column_info& c : f.columns())
                    if (c.kind == "strings")
                        for (std::size_t r = 0; r < f.rows(); ++r) (void)f.strings(c.name)[r];
                return 0;
            } catch (const error&) {
                return 3;  // refused with an error: fine
            }
        });
        ASSERT_TRUE(rc == 0 || rc == 3) << "trial " << trial << ": a corrupt store crashed its reader (" << rc << ")";
        refused += rc == 3;
    }
    EXPECT_GT(refused, 0) << "no corruption was ever noticed: the test reads nothing";
}

// A builder killed at a random moment of publish() leaves no store under the name, or a whole
// one; gc removes what it left.
TEST(frozen, a_killed_builder_leaves_nothing_half_written) {
    const std::string name = unique_name("frozen_killed");
    shm_guard guard(name);
    std::mt19937 rng(7);
    int whole = 0;
    for (int trial = 0; trial < 12; ++trial) {
        std::fflush(nullptr);
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            build(name, 200000);
            ::_exit(0);
        }
        ::usleep(static_cast<useconds_t>(100000 + rng() % 400000));
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        if (shm_exists(name)) {
            verify(frozen::open(name), 200000);
            frozen::remove(name);
            ++whole;
        }
        collect_garbage();
    }
    std::printf("%d of 12 builders finished before their kill\n", whole);
}

TEST(frozen, a_store_in_a_file_and_columns_kept_in_memory) {
    const std::string path = "/tmp/" + unique_name("frozen_file") + ".npy";
    test::unlink_guard guard(path);
    frozen_builder b;
    auto v = b.array<double>("v", {2, 2});
    for (int i = 0; i < 100; ++i) v.push_back({1.0 * i, 2.0, 3.0, 4.0});
    b.publish(file_path{path});
    const frozen f = frozen::open(file_path{path});
    EXPECT_EQ(f.path(), path);
    EXPECT_EQ(f.array<double>("v").view()(99, 0, 0), 99.0);
    EXPECT_NO_THROW(f.keep_in_memory({"v"}));
    EXPECT_THROW(f.keep_in_memory({"nope"}), not_found_error);
    frozen::remove(file_path{path});
    EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

// A builder that spills its columns to files builds the same store.
TEST(frozen, a_spilled_build_reads_back_the_same) {
    const std::string name = unique_name("frozen_spilled");
    shm_guard guard(name);
    const frozen spilled = build(name, 3000, {}, frozen_build_options{"/tmp"});
    verify(spilled, 3000);
    EXPECT_EQ(spilled.columns().size(), 7u);
    frozen_builder copy(spilled, frozen_build_options{"/tmp"});
    for (std::size_t r = 0; r < 3000; ++r) copy.push_row(spilled, r);
    verify(copy.publish(name, create_options{.replace_existing = true}), 3000);
    EXPECT_THROW(frozen_builder(frozen_build_options{"/nonexistent/dir"}).strings("x"), error);
}

// Spilled, a store bigger than the process may allocate is built (into a file): 256 MB of
// columns under an RLIMIT_DATA of 160 MiB. The same build in memory runs out of it.
TEST(frozen, a_spilled_build_needs_no_memory_for_its_columns) {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "AddressSanitizer's own mappings count against RLIMIT_DATA";
#endif
    const std::string path = "/tmp/" + unique_name("frozen_big") + ".npy";
    test::unlink_guard guard(path);
    const auto build_big = [&](const frozen_build_options& how) {
        return run_in_child([&] {
            const rlimit limit{160u << 20, 160u << 20};
            if (::setrlimit(RLIMIT_DATA, &limit) != 0) return 2;
            frozen_builder b(how);
            auto values = b.array<float>("values", {64});
            auto labels = b.strings("label");
            std::vector<float> row(64);
            for (std::size_t i = 0; i < 1'000'000; ++i) {
                row[0] = static_cast<float>(i);
                values.push_back(row);
                labels.push_back(i % 2 ? "odd" : "even");
            }
            const frozen f = b.publish(file_path{path}, create_options{.replace_existing = true});
            return f.array<float>("values").row(999'999)[0] == 999'999.0f &&
                           f.strings("label")[7] == "odd"
                       ? 0
                       : 1;
        }, std::chrono::seconds(120));
    };
    EXPECT_EQ(build_big(frozen_build_options{"/tmp"}), 0);
    EXPECT_EQ(build_big({}), 101) << "the in-memory build fits the limit: the test shows nothing";
}

// Python reads the store with numpy alone (python/shmpool_frozen.py, python3-xxhash for keys).
TEST(frozen, python_reads_the_store_with_numpy) {
    const std::string interpreter = SHMPOOL_PYTHON;
    ASSERT_FALSE(interpreter.empty()) << "no python3 with numpy found at configure time";
    const std::string name = unique_name("frozen_py");
    shm_guard guard(name);
    build(name, 3001);  // its last row is empty in both ragged columns
    std::string out;
    const std::string source = SHMPOOL_SOURCE_DIR;
    const int rc = test::run_command("env PYTHONPATH=" + source + "/python " + interpreter + " " +
                                         source + "/tests/python/frozen_reader.py " + name +
                                         " 3001 2>&1",
                                     &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("frozen_reader: OK"), std::string::npos) << out;
}

TEST(frozen, pool_tasks_read_the_store_through_the_handle) {
    const std::string name = unique_name("frozen_pool");
    shm_guard guard(name);
    process_pool pool(2);
    const frozen f = build(name, 5000);
    auto found = pool.map(0, 5000, [f](std::size_t i) {
        return f.index("by_name").find(key(i)).value_or(999999) == i &&
               f.strings("name")[i] == key(i);
    });
    for (std::size_t i = 0; i < found.size(); ++i) ASSERT_TRUE(found[i]) << i;
}

}  // namespace
}  // namespace shmpool
