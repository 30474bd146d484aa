// Tests of shmpool::mpi (mpi.hpp), run by ctest under mpirun over simulated hosts
// (scripts/mpi/simulated-hosts): 1 host x 2 ranks, 2 hosts x 2 ranks, 2 hosts x 1 rank. Every
// rank runs every test, in the same order (the calls are collective); rank 0 prints in full,
// the others only their failures.
#include "shmpool/mpi.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <xtensor/xbuilder.hpp>

#include "mpi/mpi_test_support.hpp"
#include "shmpool/catalog.hpp"

namespace shmpool::mpi {
namespace {

using test::shm_dir;
using test::simulated_host;
using test::unique;
using detail::block_name;

cluster& c() { return test::the_cluster(); }

bool shm_has(const std::string& name) {
    return std::filesystem::exists(describe_array(name).path);
}

TEST(cluster, groups_the_ranks_by_host_and_numbers_the_hosts) {
    struct where {
        int host, rank_on_host, ranks_on_host;
        char simulated[16];
    } me{c().host(), c().rank_on_host(), c().ranks_on_host(), {}};
    simulated_host().copy(me.simulated, sizeof me.simulated - 1);
    const std::vector<where> all = gather(c(), me);
    if (c().rank() != 0) {
        EXPECT_TRUE(all.empty());
        return;
    }
    ASSERT_EQ(all.size(), static_cast<std::size_t>(c().size()));
    EXPECT_EQ(all[0].host, 0) << "the host of rank 0 is host 0";
    std::map<std::string, std::set<int>> hosts_of_name;
    std::map<int, int> ranks_of_host;
    for (const where& w : all) {
        hosts_of_name[w.simulated].insert(w.host);
        ++ranks_of_host[w.host];
        EXPECT_LT(w.host, c().hosts());
    }
    EXPECT_EQ(ranks_of_host.size(), static_cast<std::size_t>(c().hosts()));
    EXPECT_EQ(hosts_of_name.size(), static_cast<std::size_t>(c().hosts()));
    for (const auto& [name, hosts] : hosts_of_name)
        EXPECT_EQ(hosts.size(), 1u) << "the ranks of simulated host " << name << " disagree";
    for (const where& w : all) EXPECT_EQ(w.ranks_on_host, ranks_of_host[w.host]);
}

TEST(row_array, blocks_split_the_rows_and_live_in_each_host_s_directory) {
    const std::size_t rows = 1001;
    auto a = row_array<double>::create(c(), unique("split"), {rows, 3});
    EXPECT_EQ(a.rows(), rows);
    EXPECT_EQ(a.shape(), (std::vector<std::size_t>{rows, 3}));
    EXPECT_EQ(a.block().shape()[0], a.last_row() - a.first_row());
    EXPECT_EQ(a.name(), unique("split"));
    EXPECT_EQ(a.block().name(), unique("split") + "@host" + std::to_string(c().host()) + "of" +
                                    std::to_string(c().hosts()));
    EXPECT_TRUE(shm_has(std::string(a.block().name())));
    const char* dir = std::getenv("SHMPOOL_SHM_DIR");
    if (dir) {
        EXPECT_EQ(a.block().path().rfind(dir, 0), 0u) << a.block().path();
    }
    // The hosts' blocks tile [0, rows) in host order.
    const auto spans = gather(c(), std::array<std::size_t, 3>{std::size_t(c().host()),
                                                              a.first_row(), a.last_row()});
    if (c().rank() == 0) {
        std::map<std::size_t, std::pair<std::size_t, std::size_t>> by_host;
        for (const auto& s : spans) by_host[s[0]] = {s[1], s[2]};
        std::size_t next = 0;
        for (const auto& [host, span] : by_host) {
            EXPECT_EQ(span.first, next) << "host " << host;
            next = span.second;
        }
        EXPECT_EQ(next, rows);
    }
}

TEST(row_array, an_explicit_split_is_kept_and_a_bad_one_is_refused) {
    std::vector<std::size_t> split;
    for (int h = 0; h < c().hosts(); ++h) split.push_back(10 + static_cast<std::size_t>(h) * 5);
    std::size_t rows = 0;
    for (std::size_t n : split) rows += n;
    auto a = row_array<int>::create(c(), unique("explicit"), {rows, 2}, {.rows_per_host = split});
    EXPECT_EQ(a.last_row() - a.first_row(), split[static_cast<std::size_t>(c().host())]);
    try {
        split.push_back(1);
        row_array<int>::create(c(), unique("bad-split"), {rows, 2}, {.rows_per_host = split});
        ADD_FAILURE() << "a split with one count too many was accepted";
    } catch (const invalid_argument_error& e) {  // every rank sees the same split: no exchange
        EXPECT_NE(std::string(e.what()).find("rows_per_host has"), std::string::npos) << e.what();
    }
}

TEST(row_array, fewer_rows_than_hosts_leaves_a_host_an_empty_block) {
    auto a = row_array<int>::create(c(), unique("few"), {1, 3});
    EXPECT_EQ(a.last_row() - a.first_row(), c().host() == 0 ? 1u : 0u);
    EXPECT_EQ(for_each_row(c(), a, [a](std::size_t r) { a.row(r).fill(7); }).completed, 1u);
    const xt::xarray<int> all = gather(c(), a);
    if (c().rank() == 0) {
        EXPECT_EQ(all, (xt::xarray<int>{{7, 7, 7}}));
    }
}

TEST(row_array, a_row_of_another_host_is_an_error_not_a_silent_read) {
    auto a = row_array<float>::create(c(), unique("mine"), {64, 4});
    EXPECT_NO_THROW(a.row(a.first_row()));
    if (a.first_row() > 0) {
        EXPECT_THROW(a.row(a.first_row() - 1), invalid_argument_error);
    }
    EXPECT_THROW(a.row(64), invalid_argument_error);
    try {
        a.local(64);
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("past its end"), std::string::npos) << e.what();
    }
}

TEST(row_array, creation_is_all_or_nothing_across_hosts) {
    const std::string name = unique("taken");
    const int last = c().hosts() - 1;
    // The last host's name is taken already: its creation fails there.
    if (c().host() == last && c().rank_on_host() == 0)
        shared_array<int>::create(block_name(name, last, c().hosts()), {1});
    c().barrier();
    try {
        row_array<int>::create(c(), name, {100, 2});
        ADD_FAILURE() << "the creation succeeded although host " << last << "'s name was taken";
    } catch (const cluster_error& e) {
        EXPECT_EQ(e.host(), last) << e.what();
        EXPECT_NE(e.error_type().find("already_exists_error"), std::string::npos) << e.what();
    }
    if (c().host() != last) {
        const std::string block = shm_dir() + "/" + block_name(name, c().host(), c().hosts());
        EXPECT_FALSE(std::filesystem::exists(block))
            << "host " << c().host() << " kept its block of a creation that failed";
    }
    c().barrier();
    if (c().host() == last && c().rank_on_host() == 0)
        shared_array<int>::remove(block_name(name, last, c().hosts()));
}

TEST(row_array, an_empty_shape_on_one_rank_is_an_error_on_every_rank) {
    // Only the last rank's shape is bad: the others must not wait for it.
    const bool bad = c().rank() == c().size() - 1;
    try {
        if (bad)
            row_array<double>::create(c(), unique("empty"), std::vector<std::size_t>{});
        else
            row_array<double>::create(c(), unique("empty"), {10, 2});
        ADD_FAILURE() << "an empty shape was accepted";
    } catch (const cluster_error& e) {
        EXPECT_EQ(e.rank(), c().size() - 1) << e.what();
        EXPECT_NE(e.error_what().find("the shape is empty"), std::string::npos) << e.what();
    }
    try {
        row_array<double>::create(c(), unique("negative"), {10, bad ? -2 : 2});
        ADD_FAILURE() << "a negative dimension was accepted";
    } catch (const cluster_error& e) {
        EXPECT_NE(e.error_what().find("negative"), std::string::npos) << e.what();
    }
}

TEST(row_array, ranks_that_disagree_on_the_element_type_all_get_an_error) {
    if (c().size() == 1) GTEST_SKIP() << "one rank cannot disagree";
    try {
        if (c().rank() == 0)
            row_array<float>::create(c(), unique("types"), {10, 2});
        else
            row_array<std::int32_t>::create(c(), unique("types"), {10, 2});
        ADD_FAILURE() << "float and int32 (of the same size) were accepted for one array";
    } catch (const cluster_error& e) {
        EXPECT_NE(std::string(e.what()).find("every rank must pass the same"), std::string::npos)
            << e.what();
    }
}

TEST(row_array, ranks_that_disagree_on_the_shape_all_get_an_error) {
    const std::size_t cols = c().rank() == c().size() - 1 ? 5 : 4;
    if (c().size() == 1) GTEST_SKIP() << "one rank cannot disagree";
    try {
        row_array<double>::create(c(), unique("disagree"), {10, cols});
        ADD_FAILURE() << "ranks passed different shapes and the creation went on";
    } catch (const cluster_error& e) {
        EXPECT_EQ(e.rank(), c().size() - 1) << e.what();
        EXPECT_NE(std::string(e.what()).find("every rank must pass the same"), std::string::npos);
    }
}

TEST(collectives, gather_and_reduce_bring_every_rank_s_part_to_rank_0) {
    const std::vector<int> ranks = gather(c(), c().rank());
    std::vector<short> mine(static_cast<std::size_t>(c().rank()) + 1, static_cast<short>(c().rank()));
    const std::vector<std::vector<short>> lists = gather(c(), mine);
    const long total = reduce(c(), static_cast<long>(c().rank()) + 1);
    const int top = reduce(c(), c().rank(), [](int x, int y) { return std::max(x, y); });
    const long n = c().size();
    EXPECT_EQ(total, n * (n + 1) / 2) << "every rank gets the result";
    EXPECT_EQ(top, c().size() - 1);
    if (c().rank() != 0) {
        EXPECT_TRUE(ranks.empty());
        EXPECT_TRUE(lists.empty());
        return;
    }
    ASSERT_EQ(ranks.size(), static_cast<std::size_t>(c().size()));
    for (int r = 0; r < c().size(); ++r) {
        EXPECT_EQ(ranks[static_cast<std::size_t>(r)], r);
        EXPECT_EQ(lists[static_cast<std::size_t>(r)], std::vector<short>(static_cast<std::size_t>(r) + 1, static_cast<short>(r)));
    }
}

TEST(collectives, gather_of_a_row_array_is_the_whole_array_in_row_order) {
    auto a = row_array<float>::create(c(), unique("gather"), {333, 5});
    for (std::size_t r = a.first_row(); r < a.last_row(); ++r)
        if (c().rank_on_host() == 0) a.row(r) = xt::arange<float>(5) + 10.0f * static_cast<float>(r);
    c().barrier();
    const xt::xarray<float> all = gather(c(), a);
    if (c().rank() != 0) {
        EXPECT_EQ(all.size(), 0u);
        return;
    }
    ASSERT_EQ(all.shape()[0], 333u);
    ASSERT_EQ(all.shape()[1], 5u);
    for (std::size_t r = 0; r < 333; ++r)
        for (std::size_t k = 0; k < 5; ++k) ASSERT_EQ(all(r, k), 10.0f * static_cast<float>(r) + static_cast<float>(k));
}

}  // namespace
}  // namespace shmpool::mpi
