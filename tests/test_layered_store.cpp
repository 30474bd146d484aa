// Tests of shmpool::layered_store: lookups through the overlay then the frozen base, put()'s
// errors, other processes, compaction (old readers keep the old base; readers that read while
// compactions run never see a row torn or going back in time), a full overlay, int64 keys, and
// compactors SIGKILLed at random moments.
#include "shmpool/layered_store.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "shmpool/catalog.hpp"
#include "shmpool/frozen_builder.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

std::string key(std::size_t i) { return "item" + std::to_string(i); }

// A base of n rows: name (strings, indexed by by_name), price (float), tags (ragged int32),
// features (4 floats), related (ragged int64 row ids: the next row).
void build_base(const std::string& name, std::size_t n) {
    frozen_builder b;
    auto names = b.strings("name");
    auto price = b.array<float>("price");
    auto tags = b.ragged<std::int32_t>("tags");
    auto features = b.array<float>("features", {4});
    auto related = b.ragged<std::int64_t>("related");
    b.index("by_name", "name");
    for (std::size_t i = 0; i < n; ++i) {
        names.push_back(key(i));
        const float f = static_cast<float>(i);
        price.push_back(f);
        tags.push_back({static_cast<std::int32_t>(i)});
        features.push_back({f, f, f, f});
        related.push_back({static_cast<std::int64_t>((i + 1) % n)});
    }
    b.publish(name);
}

// Removes the store's two segments on scope exit.
struct store_guard {
    shm_guard base, overlay;
    explicit store_guard(const std::string& name) : base(name), overlay(name + ".overlay") {}
};

row_update full_row(float price, std::int32_t tag) {
    row_update u;
    u.set("price", price).set("tags", {tag}).set("features", {1.0f, 2.0f, 3.0f, 4.0f});
    u.set("related", {std::int64_t{0}});
    return u;
}

TEST(layered_store, reads_the_overlay_then_the_base) {
    const std::string name = unique_name("layered");
    store_guard guard(name);
    build_base(name, 1000);
    const layered_store store = layered_store::create(name, "by_name", 1 << 20);
    EXPECT_TRUE(shm_exists(name + ".overlay"));
    auto row = store.find("item42");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->id(), 42u);
    EXPECT_FALSE(row->overlaid());
    EXPECT_EQ(row->text("name"), "item42");
    EXPECT_EQ(row->value<float>("price"), 42.0f);
    EXPECT_EQ(row->values<std::int64_t>("related"), std::vector<std::int64_t>{43});
    EXPECT_FALSE(store.find("nothing"));

    store.put("item42", row_update().set("price", 99.5f).set("tags", {1, 2, 3}));
    row = store.find("item42");
    ASSERT_TRUE(row);
    EXPECT_TRUE(row->overlaid());
    EXPECT_EQ(row->value<float>("price"), 99.5f);
    EXPECT_EQ(row->values<std::int32_t>("tags"), (std::vector<std::int32_t>{1, 2, 3}));
    EXPECT_EQ(row->text("name"), "item42");                         // from the base
    EXPECT_EQ(row->values<float>("features"), std::vector<float>(4, 42.0f));
    store.put("item42", row_update().set("tags", {7}));               // merged with the last put
    EXPECT_EQ(store.find("item42")->value<float>("price"), 99.5f);
    EXPECT_EQ(store.find("item42")->values<std::int32_t>("tags"), std::vector<std::int32_t>{7});

    store.put("brand new", full_row(5.0f, 5));
    const auto added = store.find("brand new");
    ASSERT_TRUE(added);
    EXPECT_EQ(added->id(), 1000u);
    EXPECT_EQ(added->text("name"), "brand new");                     // filled from the key
    EXPECT_EQ(store.row(1000).value<float>("price"), 5.0f);
    EXPECT_EQ(store.rows(), 1001u);
    EXPECT_EQ(store.overlay_rows(), 2u);
    EXPECT_THROW(store.row(1001), invalid_argument_error);
}

TEST(layered_store, bad_puts_get_errors_that_name_the_column) {
    const std::string name = unique_name("layered_errors");
    store_guard guard(name);
    build_base(name, 10);
    const layered_store store = layered_store::create(name, "by_name", 1 << 20);
    try {
        store.put("item1", row_update().set("colour", "red"));
        FAIL() << "no error";
    } catch (const not_found_error& e) {
        EXPECT_NE(std::string(e.what()).find("'colour'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("price"), std::string::npos) << e.what();
    }
    try {
        store.put("item1", row_update().set("price", 1.0));  // a double for float32
        FAIL() << "no error";
    } catch (const type_mismatch_error& e) {
        EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("float64"), std::string::npos) << e.what();
    }
    EXPECT_THROW(store.put("item1", row_update().set("features", {1.0f})), invalid_argument_error);
    EXPECT_THROW(store.put("item1", row_update().set("name", "item2")), invalid_argument_error);
    EXPECT_THROW(store.put("item1", row_update().set("price", "text")), type_mismatch_error);
    try {
        store.put("new", row_update().set("price", 1.0f));
        FAIL() << "no error";
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("tags"), std::string::npos) << e.what();
    }
    EXPECT_THROW(store.put(std::int64_t{5}, full_row(1, 1)), invalid_argument_error);
    EXPECT_EQ(store.overlay_rows(), 0u);  // nothing half put
    EXPECT_THROW(store.find("item1")->text("price"), type_mismatch_error);
    EXPECT_THROW(layered_store::create(name, "by_name", 1 << 20), already_exists_error);
    EXPECT_THROW(layered_store::create(name, "by_price", 1 << 20), not_found_error);
    EXPECT_THROW(layered_store::open(unique_name("none")), not_found_error);
}

TEST(layered_store, other_processes_see_the_overlay) {
    const std::string name = unique_name("layered_shared");
    store_guard guard(name);
    build_base(name, 100);
    const layered_store store = layered_store::create(name, "by_name", 1 << 20);
    store.put("item7", row_update().set("price", -7.0f));
    const int rc = run_in_child([&] {
        const layered_store opened = layered_store::open(name);
        if (opened.find("item7")->value<float>("price") != -7.0f) return 1;
        if (store.find("item7")->value<float>("price") != -7.0f) return 2;  // a copied handle
        opened.put("from child", full_row(3.0f, 3));
        return 0;
    });
    ASSERT_EQ(rc, 0);
    ASSERT_TRUE(store.find("from child"));
    EXPECT_EQ(store.find("from child")->id(), 100u);
}

TEST(layered_store, compaction_makes_a_new_base_and_old_readers_keep_theirs) {
    const std::string name = unique_name("layered_compact");
    store_guard guard(name);
    build_base(name, 500);
    const layered_store store = layered_store::create(name, "by_name", 1 << 20);
    const frozen old_base = store.base();
    const auto old_prices = old_base.array<float>("price");
    store.put("item3", row_update().set("price", 333.0f));
    store.put("added", full_row(1.5f, 9));
    const frozen fresh = store.compact();
    EXPECT_EQ(store.generation(), 1u);
    EXPECT_EQ(store.overlay_rows(), 0u);
    EXPECT_EQ(fresh.rows(), 501u);
    EXPECT_EQ(fresh.array<float>("price")[3], 333.0f);
    EXPECT_EQ(fresh.index("by_name").at("added"), 500u);
    EXPECT_EQ(fresh.ragged<std::int64_t>("related")[499][0], 0);  // row ids unchanged
    EXPECT_EQ(old_prices[3], 3.0f);  // the old base, still mapped, unchanged
    EXPECT_EQ(old_base.rows(), 500u);
    EXPECT_EQ(frozen::open(name).array<float>("price")[3], 333.0f);
    EXPECT_EQ(store.find("item3")->value<float>("price"), 333.0f);
    EXPECT_FALSE(store.find("item3")->overlaid());
    store.put("added", row_update().set("price", 2.5f));  // a key of the new base
    EXPECT_EQ(store.find("added")->value<float>("price"), 2.5f);
    EXPECT_EQ(store.find("added")->id(), 500u);
    EXPECT_EQ(store.compact().array<float>("price")[500], 2.5f);
}

TEST(layered_store, a_full_overlay_says_so_and_compaction_frees_it) {
    const std::string name = unique_name("layered_full");
    store_guard guard(name);
    build_base(name, 20000);
    const layered_store store = layered_store::create(name, "by_name", 64 << 10);
    const std::vector<std::int32_t> big(1000, 1);
    std::size_t i = 0;
    try {
        for (; i < 20000; ++i) store.put(key(i), row_update().set("tags", big));
        FAIL() << "the overlay never filled";
    } catch (const no_space_error& e) {
        EXPECT_NE(std::string(e.what()).find("compact()"), std::string::npos) << e.what();
    }
    ASSERT_GT(i, 0u);
    EXPECT_EQ(store.overlay_rows(), i);
    EXPECT_EQ(store.find(key(i))->values<std::int32_t>("tags").size(), 1u);  // not half put
    store.compact();
    EXPECT_EQ(store.find(key(0))->values<std::int32_t>("tags").size(), 1000u);
    store.put(key(i), row_update().set("tags", big));
}

TEST(layered_store, int64_keys) {
    const std::string name = unique_name("layered_ids");
    store_guard guard(name);
    {
        frozen_builder b;
        auto ids = b.array<std::int64_t>("id");
        auto score = b.array<double>("score");
        b.index("by_id", "id");
        for (std::int64_t i = 0; i < 100; ++i) {
            ids.push_back(i * 10);
            score.push_back(0.5 * static_cast<double>(i));
        }
        b.publish(name);
    }
    const layered_store store = layered_store::create(name, "by_id", 1 << 20);
    EXPECT_EQ(store.find(std::int64_t{70})->value<double>("score"), 3.5);
    store.put(std::int64_t{-1}, row_update().set("score", 1e9));
    EXPECT_EQ(store.find(std::int64_t{-1})->value<std::int64_t>("id"), -1);
    EXPECT_THROW(store.put("text", row_update().set("score", 1.0)), invalid_argument_error);
    EXPECT_EQ(store.compact().index("by_id").at(std::int64_t{-1}), 100u);
}

// Readers in two processes look keys up while the parent puts and compacts. A put sets a row's
// price and its one tag to the same number, increasing: a reader must never see them differ
// (a row torn between layers) nor a number smaller than one it saw before (going back in time).
TEST(layered_store, compaction_while_readers_read) {
    const std::string name = unique_name("layered_readers");
    store_guard guard(name);
    constexpr std::size_t rows = 20000, hot = 64;
    build_base(name, rows);
    const layered_store store = layered_store::create(name, "by_name", 8 << 20);
    int stop[2];
    ASSERT_EQ(::pipe(stop), 0);
    std::vector<pid_t> readers;
    for (int r = 0; r < 2; ++r) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(stop[1]);
            test::run_child_body([&] {
                const layered_store mine = layered_store::open(name);
                const frozen first = mine.base();
                const auto first_names = first.strings("name");
                std::vector<float> seen(hot, -1.0f);
                std::mt19937 rng(static_cast<unsigned>(r));
                std::size_t lookups = 0;
                pollfd p{stop[0], POLLIN, 0};
                while (::poll(&p, 1, 0) == 0) {
                    for (int n = 0; n < 200; ++n, ++lookups) {
                        const std::size_t k = rng() % hot;
                        const auto row = mine.find(key(k));
                        if (!row) return 1;
                        const float price = row->value<float>("price");
                        if (static_cast<float>(row->value<std::int32_t>("tags")) != price) return 2;
                        if (price < seen[k]) return 3;
                        seen[k] = price;
                    }
                    if (first_names[rows - 1] != key(rows - 1)) return 4;  // the old base
                }
                return lookups > 1000 ? 0 : 5;
            }, 120);
        }
        readers.push_back(pid);
    }
    ::close(stop[0]);
    std::mt19937 rng(7);
    for (int round = 1; round <= 30; ++round) {
        for (int n = 0; n < 100; ++n) {
            const std::size_t k = rng() % hot;
            const auto v = static_cast<std::int32_t>(rows + round * 1000 + n);
            store.put(key(k), row_update().set("price", static_cast<float>(v)).set("tags", {v}));
        }
        store.compact();
    }
    ::close(stop[1]);
    for (const pid_t pid : readers) {
        const exit_status st = reap_child(pid, std::chrono::seconds(60));
        EXPECT_EQ(st.shell_code(), 0);
    }
    EXPECT_EQ(store.generation(), 30u);
}

// A compactor SIGKILLed at a random moment: the store stays usable (old or new base, the
// overlay's rows still read) or, killed inside the overlay's lock, refused with
// heap_broken_error while its base stays readable. Never a hang.
TEST(layered_store, a_compactor_killed_at_random_leaves_a_consistent_store) {
    std::mt19937 rng(11);
    int refused = 0, unfinished = 0;
    for (int trial = 0; trial < 20; ++trial) {
        const std::string name = unique_name("layered_kill");
        store_guard guard(name);
        build_base(name, 50000);
        const layered_store store = layered_store::create(name, "by_name", 1 << 20);
        store.put("item5", row_update().set("price", -5.0f));
        test::run_and_kill_child([&] { return store.compact().rows() == 50000 ? 0 : 1; },
                                 std::chrono::microseconds(rng() % 60000));
        try {
            const layered_store again = layered_store::open(name);
            unfinished += again.generation() == 0;
            EXPECT_EQ(again.find("item5")->value<float>("price"), -5.0f);
            EXPECT_EQ(again.find("item6")->value<float>("price"), 6.0f);
            EXPECT_EQ(again.compact().array<float>("price")[5], -5.0f);
        } catch (const heap_broken_error&) {
            ++refused;
            const float p = frozen::open(name).array<float>("price")[5];
            EXPECT_TRUE(p == 5.0f || p == -5.0f);
        }
    }
    std::printf("compactors killed before the end: %d of 20, inside the overlay's lock (overlay "
                "refused): %d\n", unfinished + refused, refused);
}

// A compaction by another process than the store's creator: the new base still belongs to the
// creator (its trailer names it), so the compactor's exit does not remove it; persistence is
// kept too.
TEST(layered_store, a_base_compacted_elsewhere_keeps_its_creator) {
    for (const bool persistent : {false, true}) {
        const std::string name = unique_name("layered_owner");
        store_guard guard(name);
        {
            frozen_builder b;
            auto names = b.strings("name");
            auto price = b.array<float>("price");
            b.index("by_name", "name");
            names.push_back("a");
            price.push_back(1.0f);
            b.publish(name, create_options{.persistent = persistent});
        }
        const layered_store store = layered_store::create(name, "by_name", 1 << 20);
        store.put("a", row_update().set("price", 2.0f));
        ASSERT_EQ(run_in_child([&] {
                      if (store.compact().rows() != 1) return 1;
                      std::exit(0);  // a normal exit: its clean-up runs
                  }),
                  0);
        ASSERT_TRUE(shm_exists(name)) << "the compactor's exit removed the base";
        const array_info info = describe_array(name);
        EXPECT_EQ(info.creator_pid, ::getpid());
        EXPECT_EQ(info.persistent, persistent);
        EXPECT_EQ(store.find("a")->value<float>("price"), 2.0f);
        EXPECT_EQ(store.generation(), 1u);
    }
}

// Writers SIGKILLed at random moments of put() (100 trials): a fresh process then uses the store
// (each row holds its old value or the one put) or gets heap_broken_error; never a hang.
TEST(layered_store, a_writer_killed_in_put_is_detected_never_a_hang) {
    std::mt19937 rng(5);
    int usable = 0, refused = 0;
    for (int trial = 0; trial < 100; ++trial) {
        const std::string name = unique_name("layered_put_kill");
        store_guard guard(name);
        build_base(name, 1000);
        const layered_store store = layered_store::create(name, "by_name", 4 << 20);
        test::run_and_kill_child(
            [&] {
                for (std::size_t n = 0;; ++n) {
                    store.put(key(n % 1000),
                              row_update().set("price", -static_cast<float>(n % 1000)));
                    store.put("new" + std::to_string(n), full_row(1.0f, 1));
                }
                return 0;
            },
            std::chrono::microseconds(rng() % 3000));
        const int rc = run_in_child([&] {
            try {
                const layered_store again = layered_store::open(name);
                for (std::size_t k = 0; k < 1000; ++k) {
                    const float p = again.find(key(k))->value<float>("price");
                    if (p != static_cast<float>(k) && p != -static_cast<float>(k)) return 1;
                }
                again.put("after", full_row(2.0f, 2));
                return again.find("after") ? 0 : 1;
            } catch (const heap_broken_error&) {
                return 2;
            }
        }, std::chrono::seconds(20));
        ASSERT_TRUE(rc == 0 || rc == 2) << "trial " << trial << ": " << rc;
        (rc == 0 ? usable : refused)++;
    }
    std::printf("writers killed in put(): store usable after %d, refused after %d\n", usable,
                refused);
}

}  // namespace
}  // namespace shmpool
