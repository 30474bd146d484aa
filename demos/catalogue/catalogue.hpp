// demos/catalogue: what its files share. The options, the items (generated from their row
// number, so any process can tell what a row must hold), and the steps main() runs.
#pragma once

#include <shmpool/frozen.hpp>
#include <shmpool/layered_store.hpp>
#include <shmpool/process_pool.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace catalogue {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct options {
    std::size_t items = 3'000'000;
    std::size_t workers = 2;
    std::size_t lookups = 2'000'000;  // per lookup round, over all workers
    std::size_t updates = 20'000;     // puts into the overlay (half changes, half new items)
    bool boost = true;                // also build the same data in Boost containers
    std::string name;                 // of the store ("catalogue_PID" by default)
};

constexpr std::size_t features = 16;  // floats per item
constexpr std::size_t related = 3;    // references to other items, as row ids

/// Item i, as generated: its name, tags, feature vector, related rows and price.
struct item {
    std::string name;
    std::vector<std::int32_t> tags;
    std::vector<float> features;
    std::vector<std::int64_t> related;
    float price;
};
item make_item(std::size_t i, std::size_t items);
std::string item_name(std::size_t i);

/// Bytes of the data itself: names, tags, features, references, prices.
std::size_t payload_bytes(std::size_t items);

/// Builds the frozen store NAME of `items` items; returns its build time.
double build_store(const std::string& name, std::size_t items);

/// What the same data takes in Boost.Interprocess containers (a boost::unordered_map from name
/// to a struct of vectors, in a shmpool::managed_heap): bytes used and build time.
struct boost_figures {
    double bytes = 0, seconds = 0;
};
boost_figures build_boost_copy(const std::string& heap_name, std::size_t items);

/// Lookups by name through the pool: each reads the item's name, tags, features and the names
/// of its related items. Throws if one finds a wrong row.
struct lookup_figures {
    double per_second = 0;
    std::size_t lookups = 0;
};
lookup_figures frozen_lookups(shmpool::process_pool& pool, const shmpool::frozen& store,
                              std::size_t items, std::size_t lookups);
/// The same through a layered store (the overlay, then the base). `changed` puts were made to
/// items 0, 2, 4...: their price must read as changed_price(i).
lookup_figures layered_lookups(shmpool::process_pool& pool, const shmpool::layered_store& store,
                               std::size_t items, std::size_t lookups, std::size_t changed);
inline float changed_price(std::size_t i) { return -static_cast<float>(i); }

}  // namespace catalogue
