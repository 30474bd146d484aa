// demos/catalogue: lookups by name from the pool's workers, in the frozen store and through the
// layered store. A task does a block of lookups of random names and checks each row it finds.
#include <stdexcept>

#include "catalogue.hpp"

namespace catalogue {

namespace {

constexpr std::size_t per_task = 20'000;

struct tally {
    std::uint64_t lookups = 0, wrong = 0;
    double checksum = 0;  // of what the lookups read, so that nothing is optimised away
};

std::uint64_t next_random(std::uint64_t& s) {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

lookup_figures sum_up(const std::vector<tally>& tallies, double seconds, const char* what) {
    lookup_figures f;
    for (const tally& t : tallies) {
        if (t.wrong)
            throw std::runtime_error(std::string(what) + ": " + std::to_string(t.wrong) +
                                     " lookups found a wrong row");
        f.lookups += t.lookups;
    }
    f.per_second = static_cast<double>(f.lookups) / seconds;
    return f;
}

}  // namespace

lookup_figures frozen_lookups(shmpool::process_pool& pool, const shmpool::frozen& store,
                              std::size_t items, std::size_t lookups) {
    const auto start = clock_type::now();
    const auto tallies = pool.map(0, (lookups + per_task - 1) / per_task, [store, items](std::size_t t) {
        const auto index = store.index("by_name");
        const auto names = store.strings("name");
        const auto tags = store.ragged<std::int32_t>("tags");
        const auto feats = store.array<float>("features");
        const auto refs = store.ragged<std::int64_t>("related");
        tally out;
        std::uint64_t seed = t;
        for (std::size_t n = 0; n < per_task; ++n, ++out.lookups) {
            const std::size_t i = next_random(seed) % items;
            const auto row = index.find(item_name(i));
            if (!row || *row != i || names[*row] != item_name(i)) {
                ++out.wrong;
                continue;
            }
            out.checksum += static_cast<double>(tags[*row].size()) + feats.row(*row)[0];
            for (std::int64_t r : refs[*row]) out.checksum += static_cast<double>(names[r].size());
        }
        return out;
    });
    return sum_up(tallies, seconds_since(start), "frozen store");
}

lookup_figures layered_lookups(shmpool::process_pool& pool, const shmpool::layered_store& store,
                               std::size_t items, std::size_t lookups, std::size_t changed) {
    const auto start = clock_type::now();
    const auto tallies = pool.map(0, (lookups + per_task - 1) / per_task,
                                  [store, items, changed](std::size_t t) {
        tally out;
        std::uint64_t seed = t + 1'000'000;
        for (std::size_t n = 0; n < per_task; ++n, ++out.lookups) {
            const std::size_t i = next_random(seed) % items;
            const auto row = store.find(item_name(i));
            const bool is_changed = i % 2 == 0 && i / 2 < changed;
            const float price = is_changed ? changed_price(i) : static_cast<float>(i % 10000) / 100.0f;
            if (!row || row->id() != i || row->value<float>("price") != price) {
                ++out.wrong;
                continue;
            }
            out.checksum += static_cast<double>(row->values<std::int32_t>("tags").size());
        }
        return out;
    });
    return sum_up(tallies, seconds_since(start), "layered store");
}

}  // namespace catalogue
