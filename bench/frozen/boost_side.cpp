// bench/frozen: the Boost baseline, and the only file of the program that includes Boost. A
// boost::unordered_map<shm_string, shm_vector<float>> (Boost.Interprocess basic_string and vector
// with the segment's allocator) built in a managed_mapped_file of /dev/shm, the way such a
// key -> values table is shared between processes without shmpool. The lookup children open the
// file read-only (open_read_only: find() then takes no lock) and look up with a std::string_view
// through find(key, hash, eq), so that no shm_string is built in the read-only segment.
// Built without Boost (CMake did not find it; SHMPOOL_BENCH_BOOST is 0), have_boost is false
// and every function throws std::logic_error: main.cpp checks have_boost first.
#include <stdexcept>
#include <string>

#include "frozen_bench.hpp"

#if SHMPOOL_BENCH_BOOST
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <boost/interprocess/containers/vector.hpp>
#include <boost/interprocess/managed_mapped_file.hpp>
#include <boost/unordered_map.hpp>
#include <functional>
#include <utility>
#endif

namespace frozen_bench {

#if SHMPOOL_BENCH_BOOST

namespace bip = boost::interprocess;

namespace {

using segment_manager = bip::managed_mapped_file::segment_manager;
template <class T>
using shm_allocator = bip::allocator<T, segment_manager>;
using shm_string = bip::basic_string<char, std::char_traits<char>, shm_allocator<char>>;
using shm_vector = bip::vector<float, shm_allocator<float>>;

inline std::string_view view(std::string_view s) noexcept { return s; }
inline std::string_view view(const shm_string& s) noexcept { return {s.data(), s.size()}; }

// Hash and equality over the bytes, for shm_string and std::string_view alike.
struct key_hash {
    template <class K>
    std::size_t operator()(const K& k) const noexcept {
        return std::hash<std::string_view>{}(view(k));
    }
};
struct key_eq {
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
        return view(a) == view(b);
    }
};

using value_type = std::pair<const shm_string, shm_vector>;
using map_type = boost::unordered_map<shm_string, shm_vector, key_hash, key_eq,
                                      shm_allocator<value_type>>;
constexpr const char* map_name = "map";

}  // namespace

const bool have_boost = true;

build_result build_boost(const workload& w, const std::string& path) {
    const std::size_t size = 4 * w.payload + (std::size_t{64} << 20);
    build_result r;
    const auto start = clock_type::now();
    bip::managed_mapped_file seg(bip::create_only, path.c_str(), size);
    shm_allocator<char> chars(seg.get_segment_manager());
    shm_allocator<float> floats(seg.get_segment_manager());
    // Its bucket count up front: no rehash while it is filled (the baseline at its best).
    map_type* map = seg.construct<map_type>(map_name)(w.n, key_hash{}, key_eq{},
                                                      shm_allocator<value_type>(seg.get_segment_manager()));
    for (std::size_t i = 0; i < w.n; ++i) {
        const std::string_view key = w.key(i);
        const std::span<const float> v = w.value(i);
        shm_string k(key.data(), key.size(), chars);
        shm_vector values(v.begin(), v.end(), floats);
        map->emplace(boost::move(k), boost::move(values));
    }
    r.seconds = seconds_since(start);
    if (map->size() != w.n) throw std::runtime_error("Boost map: wrong number of keys");
    r.bytes = static_cast<double>(seg.get_size() - seg.get_free_memory());
    return r;
}

lookup_loop boost_lookups(const std::string& path) {
    auto seg = std::make_shared<bip::managed_mapped_file>(bip::open_read_only, path.c_str());
    const map_type* map = seg->find<map_type>(map_name).first;
    if (!map) throw std::runtime_error(path + ": no map '" + map_name + "' in it");
    return [seg, map](const key_list& keys) {
        checksum s;
        const key_hash hash;
        const key_eq eq;
        const auto end = map->end();
        for (std::size_t k = 0, n = keys.size(); k < n; ++k) {
            const auto it = map->find(keys[k], hash, eq);
            if (it != end) s.add({it->second.data(), it->second.size()});
        }
        return s;
    };
}

#else

const bool have_boost = false;

build_result build_boost(const workload&, const std::string&) {
    throw std::logic_error("built without Boost");
}
lookup_loop boost_lookups(const std::string&) { throw std::logic_error("built without Boost"); }

#endif

}  // namespace frozen_bench
