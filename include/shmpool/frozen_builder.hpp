// shmpool::frozen_builder: builds a frozen store (frozen.hpp) column by column, then publishes
// it under its name in one step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/frozen.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

namespace detail {
struct frozen_column_data;  // a column being built (src/segment/frozen_builder.cpp)
SHMPOOL_API void frozen_append(frozen_column_data& c, const void* values, std::size_t count);
}  // namespace detail

/// How a frozen_builder keeps the rows pushed until publish().
struct frozen_build_options {
    /// Empty: in this process's memory. A directory (of a file system with unnamed files:
    /// ext4, xfs, btrfs, tmpfs): the values and offsets of every column but the de-duplicated
    /// ones go to unlinked files there as they are pushed, 4 MiB at a time, so a store bigger
    /// than memory can be built (published to a file_path on that disk). Memory then holds the
    /// de-duplicated columns and, while publishing, 16 bytes per key of each index; such
    /// columns keep 64-bit offsets. The files vanish with the builder.
    std::string spill_directory;
};

/// Builds a frozen store in this process's memory (or spilled to files: frozen_build_options), then writes it into a new segment (or file)
/// whose name appears only once every byte is in place: a builder killed before or during
/// publish() leaves nothing under the name (`shmpool gc` removes its staging file).
///
/// Every column gets one entry per row, pushed in row order; publish() checks that all have
/// the same number of rows.
///
/// @code
/// shmpool::frozen_builder b;
/// auto names = b.strings("name");                      // a small handle on the column
/// auto features = b.array<float>("features", {16});
/// auto related = b.ragged<std::int64_t>("related");     // row ids of related items
/// b.index("by_name", "name");
/// for (const item& it : items) {
///     names.push_back(it.name);
///     features.push_back(it.features);                 // 16 floats
///     related.push_back(it.related);
/// }
/// shmpool::frozen store = b.publish("catalogue");
/// @endcode
///
/// Not safe across fork (build in one process). Throws invalid_argument_error for a bad column
/// name (empty, over 127 bytes, taken), a row of the wrong size, or a duplicate key.
class SHMPOOL_API frozen_builder {
public:
    /// A column being built (a handle, valid while the builder lives): push_back() appends
    /// one row.
    template <class T>
    class column {
    public:
        /// Appends a row: `row_elements` values for an array column, any number for a ragged
        /// one.
        void push_back(std::span<const T> values) {
            detail::frozen_append(*data_, values.data(), values.size());
        }
        void push_back(std::initializer_list<T> values) {
            push_back(std::span<const T>(values.begin(), values.size()));
        }
        void push_back(const std::vector<T>& values) { push_back(std::span<const T>(values)); }
        /// Appends a row of one value (an array column of scalars).
        void push_back(const T& value) { push_back(std::span<const T>(&value, 1)); }

    private:
        friend class frozen_builder;
        explicit column(detail::frozen_column_data& d) : data_(&d) {}
        detail::frozen_column_data* data_;
    };

    /// A strings column being built.
    class string_column {
    public:
        void push_back(std::string_view text) {
            detail::frozen_append(*data_, text.data(), text.size());
        }

    private:
        friend class frozen_builder;
        explicit string_column(detail::frozen_column_data& d) : data_(&d) {}
        detail::frozen_column_data* data_;
    };

    frozen_builder();
    explicit frozen_builder(const frozen_build_options& opts);
    /// A builder with the columns of `like` (names, kinds, element types, row shapes,
    /// de-duplication, indexes) and no rows: what a compaction or a merge starts from.
    explicit frozen_builder(const frozen& like, const frozen_build_options& opts = {});
    ~frozen_builder();
    frozen_builder(const frozen_builder&) = delete;
    frozen_builder& operator=(const frozen_builder&) = delete;

    /// An array column: each row a block of `row_shape` (empty: one value) of T.
    template <class T>
    column<T> array(std::string_view name, const std::vector<std::size_t>& row_shape = {}) {
        return column<T>(add(name, 1, dtype_of<T>, row_shape, false));
    }
    /// A ragged column: each row any number of T. With `deduplicate`, rows of equal content
    /// are stored once.
    template <class T>
    column<T> ragged(std::string_view name, bool deduplicate = false) {
        return column<T>(add(name, 2, dtype_of<T>, {}, deduplicate));
    }
    /// A strings column (UTF-8 or any bytes). With `deduplicate`, equal strings are stored once.
    string_column strings(std::string_view name, bool deduplicate = false);
    /// An index `name` from the values of `keys_column` (a strings column, or an array column
    /// of std::int64_t scalars) to their rows; built at publish(), which throws
    /// invalid_argument_error if a key appears twice.
    void index(std::string_view name, std::string_view keys_column);

    /// Writes the store into a new segment NAME (or file) and returns it opened. The name
    /// appears once the store is complete. Throws already_exists_error (unless
    /// opts.replace_existing: the old store is replaced atomically, its readers keep it),
    /// no_space_error, invalid_argument_error (columns of different row counts: named).
    frozen publish(std::string_view name, const create_options& opts = {});
    frozen publish(const file_path& file, const create_options& opts = {});

    /// Appends row `row` of `from` to every column (not the indexes, built at publish()).
    /// `from` must have the columns this builder has, in the same order (a builder made from
    /// it, or from a store built alike): else invalid_argument_error naming the first that
    /// differs. Throws invalid_argument_error for a row past its end.
    void push_row(const frozen& from, std::size_t row);

    /// Rows pushed so far into the first column.
    std::size_t rows() const noexcept;

private:
    friend class layered_store;
    detail::frozen_column_data& column_at(std::size_t position);  // in the order added
    // publish() under the name of `old`, replacing it; the new store keeps old's creator and
    // persistence (a compaction: see detail::create_segment).
    frozen publish_replacing(const frozen& old, const create_options& opts);
    frozen publish_at(const detail::location& where, const create_options& opts,
                      const detail::segment_creator* creator = nullptr);
    detail::frozen_column_data& add(std::string_view name, std::uint32_t kind, dtype type,
                                    const std::vector<std::size_t>& dims, bool dedup);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace shmpool
