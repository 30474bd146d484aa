// shmpool::layered_store: the two layers of structured data together, as the sharedbuffers
// talk describes them. A large frozen base (frozen.hpp), read in place, and a small overlay of
// recent changes in a managed heap (managed_heap.hpp). Lookups read the overlay, then the base;
// compact() folds the overlay into a new base published under the same name, while readers
// that hold the old base keep reading it. Needs the Boost headers, like managed_heap.hpp.
//
// @code
// // "catalogue" is a frozen store with an index "by_name" over its strings column "name".
// auto store = shmpool::layered_store::create("catalogue", "by_name", 64 << 20);
// store.put("key0000042", shmpool::row_update().set("price", 9.5f));       // an update
// store.put("new item", shmpool::row_update().set("price", 1.0f).set("tags", {3, 4}));
// if (auto item = store.find("key0000042"))
//     std::printf("row %zu costs %f\n", item->id(), item->value<float>("price"));
// store.compact();  // a new base under "catalogue"; the overlay is empty again
// @endcode
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/frozen.hpp"
#include "shmpool/frozen_builder.hpp"
#include "shmpool/managed_heap.hpp"

namespace shmpool {

/// New values for some columns of one row, given to layered_store::put(). Each set() names a
/// column of the base: a strings column takes text, an array or ragged column numbers of its
/// element type (an array column exactly its row's count). Checked by put().
class SHMPOOL_API row_update {
public:
    row_update& set(std::string_view column, std::string_view text);
    row_update& set(std::string_view column, const char* text) {
        return set(column, std::string_view(text));
    }
    template <class T>
        requires std::is_arithmetic_v<T>
    row_update& set(std::string_view column, std::span<const T> values) {
        return set_values(column, dtype_of<T>, values.data(), values.size());
    }
    template <class T>
        requires std::is_arithmetic_v<T>
    row_update& set(std::string_view column, const std::vector<T>& values) {
        return set(column, std::span<const T>(values));
    }
    template <class T>
        requires std::is_arithmetic_v<T>
    row_update& set(std::string_view column, std::initializer_list<T> values) {
        return set(column, std::span<const T>(values.begin(), values.size()));
    }
    /// One value (an array column of scalars, or a ragged row of one value).
    template <class T>
        requires std::is_arithmetic_v<T>
    row_update& set(std::string_view column, T value) {
        return set(column, std::span<const T>(&value, 1));
    }

    /// One column's new values: its bytes, and their element type (nullopt: text).
    struct field {
        std::string column;
        std::optional<dtype> type;
        std::vector<std::byte> bytes;
    };
    const std::vector<field>& fields() const noexcept { return fields_; }

private:
    row_update& set_values(std::string_view column, std::optional<dtype> type, const void* data,
                           std::size_t count);
    std::vector<field> fields_;
};

/// One row of a layered_store, as find() or row() read it: a copy of its values, from the
/// overlay where it has some, else from the base. Not shared with other processes.
class SHMPOOL_API layered_row {
public:
    /// The row's id: stable across compactions (references between rows stay valid).
    std::size_t id() const noexcept { return id_; }
    /// Whether some of its values came from the overlay (changed since the last compaction).
    bool overlaid() const noexcept { return !offsets_.empty(); }

    /// A strings column's text. Throws not_found_error (no such column), type_mismatch_error
    /// (not a strings column).
    std::string text(std::string_view column) const;
    /// An array or ragged column's values. Throws not_found_error, type_mismatch_error (another
    /// kind, or elements that are not T: both named).
    template <class T>
    std::vector<T> values(std::string_view column) const {
        const auto [data, count] = raw(column, dtype_of<T>);
        std::vector<T> out(count);
        if (count) std::memcpy(out.data(), data, count * sizeof(T));
        return out;
    }
    /// The first value of an array or ragged column (throws invalid_argument_error if empty).
    template <class T>
    T value(std::string_view column) const {
        const auto [data, count] = raw(column, dtype_of<T>);
        if (count == 0) throw_empty(column);
        T v;
        std::memcpy(&v, data, sizeof v);
        return v;
    }

private:
    friend class layered_store;
    // The values of `column` (elements; bytes for text), checked against `type`.
    std::pair<const std::byte*, std::size_t> raw(std::string_view column,
                                                 std::optional<dtype> type) const;
    [[noreturn]] void throw_empty(std::string_view column) const;
    frozen base_;
    std::size_t id_ = 0;
    std::uint64_t mask_ = 0;             // the value columns the overlay has
    std::vector<std::byte> blob_;        // their bytes
    std::vector<std::uint64_t> offsets_; // per value column, its [begin, end) in blob_
};

/// A frozen base NAME (with an index over its key column) and an overlay of recent changes in a
/// managed heap "NAME.overlay". Row ids are stable: put() of a new key appends a row, and a
/// compaction keeps every row where it was, so row-id references between rows stay valid.
///
/// Writers (put, compact) and readers (find, row) may be any processes. The overlay has a
/// shared_rwlock: readers hold it shared, and only while the overlay holds rows (an empty
/// overlay costs a lookup two atomic loads); writers hold the heap's writers' lock and it
/// exclusive. A compaction builds the new base without them, publishes it under NAME in one
/// step, and then drops from the overlay what the base now holds; readers move to the new base
/// at their next lookup, and views they took of the old one stay valid. A process killed
/// anywhere leaves a consistent store, except a writer killed holding the locks (a put, or the
/// end of a compaction): then the overlay is refused with heap_broken_error, and the base,
/// intact, can be opened with frozen::open.
///
/// A handle: trivially copyable, so pool tasks capture it by value. One handle is for one
/// thread at a time (it caches the base it reads); copies are cheap. Safe across fork.
class SHMPOOL_API layered_store {
public:
    layered_store() = default;

    /// Creates the overlay of the frozen store NAME, whose index `key_index` maps the keys
    /// put() and find() take, with `overlay_bytes` of space. Throws not_found_error (no store,
    /// or no such index), already_exists_error (an overlay exists), invalid_argument_error
    /// (more than 64 value columns), and as managed_heap::create.
    static layered_store create(std::string_view name, std::string_view key_index,
                                std::size_t overlay_bytes, const create_options& opts = {});
    /// Opens the store NAME (its base and overlay). Throws not_found_error, format_error,
    /// heap_broken_error.
    static layered_store open(std::string_view name);
    /// Removes the overlay and the base (processes that have them keep them).
    static void remove(std::string_view name);

    /// The row whose key is `key`, or nullopt. Reads the overlay, then the base.
    std::optional<layered_row> find(std::string_view key) const;
    std::optional<layered_row> find(std::int64_t key) const;
    /// Row `id`. Throws invalid_argument_error past the last row.
    layered_row row(std::size_t id) const;
    /// Rows of the base and new rows of the overlay.
    std::size_t rows() const;
    /// Rows the overlay holds (changed or new since the last compaction).
    std::size_t overlay_rows() const;

    /// Sets the columns `u` names in the row of `key`, or adds a row for a new key (then every
    /// column must be set, but the key column, filled from `key`). Throws not_found_error
    /// (a column the base lacks; the message lists them), type_mismatch_error (both types
    /// named), invalid_argument_error (an array row of the wrong size, a new row missing
    /// columns: named), no_space_error (the overlay is full: compact() it, or create it
    /// bigger), heap_broken_error.
    void put(std::string_view key, const row_update& u) const;
    void put(std::int64_t key, const row_update& u) const;

    /// Folds the overlay into a new base published under NAME (replacing the old one in one
    /// step; `opts` as frozen_builder::publish, replace_existing implied) and returns it. Puts
    /// made during the compaction stay in the overlay. One compaction at a time: a second
    /// waits. `how`: where the new base is built (a spill directory for a base bigger than
    /// memory). Throws as frozen_builder::publish and heap_broken_error.
    frozen compact(const create_options& opts = {}, const frozen_build_options& how = {}) const;

    /// The base as this handle reads it now (the newest, after a compaction).
    frozen base() const;
    /// How many compactions have replaced the base since the overlay was created.
    std::uint64_t generation() const;
    std::string_view name() const noexcept { return base_.name(); }

private:
    struct root;  // in the overlay (src/sync/layered_store.cpp)
    root& overlay_root() const;
    void refresh() const;  // reopens the base after a compaction
    void refresh_locked() const;
    layered_row locked_row(std::size_t id) const;  // under the overlay's lock
    std::optional<layered_row> lookup(const void* key, std::size_t size, bool int_key) const;
    void put_key(const void* key, std::size_t size, bool int_key, const row_update& u) const;

    managed_heap heap_;
    std::ptrdiff_t root_offset_ = 0;  // of the root in the heap, from its segment manager
    mutable frozen base_;
    mutable std::uint64_t generation_ = 0;  // of base_
};

}  // namespace shmpool
