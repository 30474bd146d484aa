// demos/catalogue: the items, the frozen store built from them, and the same data in Boost
// containers (the size to compare with).
#include <cstdio>

#include <boost/container/string.hpp>
#include <boost/container/vector.hpp>
#include <boost/unordered_map.hpp>
#include <shmpool/frozen_builder.hpp>

#include "catalogue.hpp"

namespace catalogue {

std::string item_name(std::size_t i) {
    char text[32];
    std::snprintf(text, sizeof text, "item-%08zu", i);
    return text;
}

item make_item(std::size_t i, std::size_t items) {
    item it;
    it.name = item_name(i);
    for (std::size_t t = 0; t < i % 6; ++t)  // repeated tag sets: de-duplicated in the store
        it.tags.push_back(static_cast<std::int32_t>((i % 97 + t * 13) % 500));
    it.features.resize(features);
    for (std::size_t f = 0; f < features; ++f)
        it.features[f] = static_cast<float>((i * 2654435761u + f * 40503u) % 1000) / 1000.0f;
    it.related = {static_cast<std::int64_t>((i * 7 + 1) % items),
                  static_cast<std::int64_t>((i * 13 + 5) % items),
                  static_cast<std::int64_t>((i * 101 + 11) % items)};
    it.price = static_cast<float>(i % 10000) / 100.0f;
    return it;
}

std::size_t payload_bytes(std::size_t items) {
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < items; ++i)
        bytes += item_name(i).size() + (i % 6) * 4 + features * 4 + related * 8 + 4;
    return bytes;
}

double build_store(const std::string& name, std::size_t items) {
    const auto start = clock_type::now();
    shmpool::frozen_builder b;
    auto names = b.strings("name");
    auto tags = b.ragged<std::int32_t>("tags", true);
    auto feats = b.array<float>("features", {features});
    auto refs = b.ragged<std::int64_t>("related");
    auto price = b.array<float>("price");
    b.index("by_name", "name");
    for (std::size_t i = 0; i < items; ++i) {
        const item it = make_item(i, items);
        names.push_back(it.name);
        tags.push_back(it.tags);
        feats.push_back(it.features);
        refs.push_back(it.related);
        price.push_back(it.price);
    }
    b.publish(name);
    return seconds_since(start);
}

namespace {

using heap = shmpool::managed_heap;
using shm_string =
    boost::container::basic_string<char, std::char_traits<char>, heap::allocator<char>>;
template <class T>
using shm_vector = boost::container::vector<T, heap::allocator<T>>;

struct boost_item {
    explicit boost_item(const heap::allocator<char>& a) : tags(a), related(a) {}
    shm_vector<std::int32_t> tags;
    float features[catalogue::features];
    shm_vector<std::int64_t> related;
    float price;
};

struct name_hash {
    std::size_t operator()(const shm_string& s) const noexcept {
        return std::hash<std::string_view>{}({s.data(), s.size()});
    }
};

using boost_map = boost::unordered_map<shm_string, boost_item, name_hash, std::equal_to<>,
                                       heap::allocator<std::pair<const shm_string, boost_item>>>;

}  // namespace

boost_figures build_boost_copy(const std::string& heap_name, std::size_t items) {
    const heap h = heap::create(heap_name, 4 * payload_bytes(items) + (std::size_t{64} << 20));
    boost_figures fig;
    try {
        const auto start = clock_type::now();
        const auto held = h.lock();
        const heap::allocator<char> chars = h.get_allocator<char>();
        boost_map& map = h.find_or_construct<boost_map>("items", items, name_hash{},
                                                        std::equal_to<>{}, chars);
        for (std::size_t i = 0; i < items; ++i) {
            const item it = make_item(i, items);
            boost_item value(chars);
            value.tags.assign(it.tags.begin(), it.tags.end());
            std::copy(it.features.begin(), it.features.end(), value.features);
            value.related.assign(it.related.begin(), it.related.end());
            value.price = it.price;
            map.emplace(shm_string(it.name.data(), it.name.size(), chars), boost::move(value));
        }
        fig.seconds = seconds_since(start);
        fig.bytes = static_cast<double>(h.size() - h.free_bytes());
    } catch (...) {
        heap::remove(heap_name);
        throw;
    }
    heap::remove(heap_name);
    return fig;
}

}  // namespace catalogue
