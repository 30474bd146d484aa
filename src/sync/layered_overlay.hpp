// layered_store's overlay, as it lies in its managed heap: the root object (named
// "shmpool::layered"), the rows changed or added since the last compaction, and the keys of the
// rows added. Boost containers with the heap's allocator; changed under the heap's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <new>
#include <string_view>

#include <boost/container/map.hpp>
#include <boost/container/string.hpp>
#include <boost/container/vector.hpp>

#include "shmpool/layered_store.hpp"
#include "shmpool/shared_rwlock.hpp"

namespace shmpool {

namespace detail {

template <class T>
using heap_alloc = managed_heap::allocator<T>;
using heap_bytes = boost::container::vector<std::byte, heap_alloc<std::byte>>;
using heap_u64s = boost::container::vector<std::uint64_t, heap_alloc<std::uint64_t>>;
using heap_key = boost::container::basic_string<char, std::char_traits<char>, heap_alloc<char>>;

/// A row's values in the overlay: the value columns it sets (mask), their bytes.
struct overlay_entry {
    explicit overlay_entry(const heap_alloc<char>& a) : blob(a), offsets(a) {}
    std::uint64_t version = 0;  // of the put that last changed it
    std::uint64_t mask = 0;     // bit k: value column k is set
    heap_bytes blob;            // the set columns' bytes, in column order
    heap_u64s offsets;          // per value column: where its bytes end in blob (begin: previous)
};

using entry_map = boost::container::map<std::uint64_t, overlay_entry, std::less<>,
                                        heap_alloc<std::pair<const std::uint64_t, overlay_entry>>>;
using key_map = boost::container::map<heap_key, std::uint64_t, std::less<>,
                                      heap_alloc<std::pair<const heap_key, std::uint64_t>>>;

inline constexpr const char* layered_root_name = "shmpool::layered";

}  // namespace detail

struct layered_store::root {
    explicit root(const detail::heap_alloc<char>& a) : entries(a), new_keys(a) {
        new (&readers()) shared_rwlock;
    }
    /// The lock that readers hold shared. It is aligned on 64 bytes, more than Boost's
    /// allocator gives, so it lives at the aligned place of a larger space (the same place in
    /// every process: the heap is mapped on a page boundary).
    shared_rwlock& readers() noexcept {
        const auto at = reinterpret_cast<std::uintptr_t>(rwlock_space);
        const std::uintptr_t align = alignof(shared_rwlock);
        return *reinterpret_cast<shared_rwlock*>((at + align - 1) / align * align);
    }
    char index[128] = {};                     // the base's key index
    std::atomic<std::uint64_t> generation{0};  // compactions so far
    std::atomic<std::uint64_t> held{0};        // entries.size(), read without the lock
    std::uint64_t base_rows = 0;               // rows of the newest base
    std::uint64_t next_row = 0;                // the id of the next new row
    std::uint64_t version = 0;                 // of the last put
    robust_mutex compacting;                   // one compaction at a time
    // readers(): shared while reading the maps; exclusive while changing them.
    unsigned char rwlock_space[sizeof(shared_rwlock) + alignof(shared_rwlock)];
    detail::entry_map entries;                 // row id -> its values
    detail::key_map new_keys;                  // key (bytes) -> id, rows not in the base
};

namespace detail {

/// Reads the overlay's maps: the root's lock held shared. A writer that died changing them
/// makes the overlay refused (heap_broken_error naming `store`), as the heap is.
class overlay_reading {
public:
    overlay_reading(shared_rwlock& l, std::string_view store);
    ~overlay_reading() { lock_.unlock_shared(); }
    overlay_reading(const overlay_reading&) = delete;
    overlay_reading& operator=(const overlay_reading&) = delete;

private:
    shared_rwlock& lock_;
};

/// Changes the overlay: the heap's writers' lock (one writer at a time, through Boost's
/// allocator), then the root's lock held exclusive (no reader inside).
class overlay_writing {
public:
    overlay_writing(const managed_heap& heap, shared_rwlock& l, std::string_view store);
    ~overlay_writing() { lock_.unlock(); }
    overlay_writing(const overlay_writing&) = delete;
    overlay_writing& operator=(const overlay_writing&) = delete;

private:
    managed_heap::guard writers_;
    shared_rwlock& lock_;
};

/// "layered store 'NAME'": how messages name a store.
inline std::string layered_who(std::string_view name) {
    return "layered store '" + std::string(name) + "'";
}

/// The value columns of a base (every column but its indexes), in order: a column's position
/// here is its bit in an entry's mask.
std::vector<const frozen_column_state*> value_columns(const frozen_state& s);

/// The value column `column` of `s` and its position among the value columns; throws
/// not_found_error listing them (`name`: the store's).
std::pair<std::size_t, const frozen_column_state*> layered_column(const frozen_state& s,
                                                                  std::string_view column,
                                                                  std::string_view name);

/// Checks that values of `type` (nullopt: text) fit column `c`; throws type_mismatch_error
/// naming both.
void check_layered_type(const frozen_column_state& c, std::optional<dtype> type,
                        std::string_view name);

}  // namespace detail

}  // namespace shmpool
