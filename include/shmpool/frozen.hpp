// shmpool::frozen: a read-only store of columns (arrays, ragged arrays, strings) and key
// indexes, built once by frozen_builder (frozen_builder.hpp), published under a name in one
// step, then read in place by any process: no copy, no deserialisation.
//
// @code
// auto store = shmpool::frozen::open("catalogue");       // /dev/shm/catalogue
// auto names = store.strings("name");
// auto tags = store.ragged<std::int32_t>("tags");
// if (auto row = store.index("by_name").find("key0000042"))
//     std::printf("%s has %zu tags\n", std::string(names[*row]).c_str(), tags[*row].size());
// @endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xadapt.hpp>

#include "shmpool/detail/frozen_state.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// What a column of a frozen store is (frozen::columns(), `shmpool info`).
struct frozen_column_info {
    std::string name;
    std::string kind;                // "array", "ragged", "strings", "index"
    std::string dtype;               // of the elements ("float32"; strings: "uint8")
    std::vector<std::size_t> shape;  // array: (rows, ...); others: (rows)
    bool deduplicated = false;       // ragged, strings: equal rows share their values
    std::string keys;                // index: the column whose values are its keys
    std::size_t bytes = 0;           // of every section of the column
};

namespace detail {
/// Base of the column views: a view holds addresses in this process, so it is deliberately not
/// trivially copyable: a pool task cannot capture one (capture the frozen handle and take the
/// view inside the task).
class frozen_view_base {
public:
    frozen_view_base(const frozen_state& s, const frozen_column_state& c) noexcept
        : state_(&s), column_(&c) {}
    frozen_view_base(const frozen_view_base& o) noexcept : state_(o.state_), column_(o.column_) {}
    frozen_view_base& operator=(const frozen_view_base& o) noexcept {
        state_ = o.state_, column_ = o.column_;
        return *this;
    }
    /// Rows of the store.
    std::size_t size() const noexcept { return state_->rows; }

protected:
    void check_row(std::size_t row) const {
        if (row >= state_->rows)
            throw invalid_argument_error(state_->who + ", column '" + column_->name + "': row " +
                                         std::to_string(row) + " is past its " +
                                         std::to_string(state_->rows) + " rows");
    }
    // [begin, end) of row `row` in the values, checked against the values' count.
    std::pair<std::uint64_t, std::uint64_t> bounds(std::size_t row, std::size_t count) const {
        check_row(row);
        const auto span = frozen_row_span(*column_, row);
        if (span.first > span.second || span.second > count)
            throw_bad_frozen_offsets(*state_, *column_, row);
        return span;
    }
    const std::byte* values_section() const noexcept {
        return column_->section[(column_->flags & 1) ? 2 : 1];
    }
    std::size_t values_bytes() const noexcept { return column_->bytes[(column_->flags & 1) ? 2 : 1]; }

    const frozen_state* state_;
    const frozen_column_state* column_;
};
}  // namespace detail

/// An array column: rows of a fixed shape of T. view() is the whole column as an xtensor
/// expression of shape (rows, ...), read-only; row(r) one row's elements.
template <class T>
class frozen_array : public detail::frozen_view_base {
public:
    using frozen_view_base::frozen_view_base;
    /// The elements of row r (row_elements() of them). Throws invalid_argument_error past the end.
    std::span<const T> row(std::size_t r) const {
        check_row(r);
        return {data() + r * row_elements(), row_elements()};
    }
    /// Row r's single value (a column of scalars).
    const T& operator[](std::size_t r) const {
        check_row(r);
        return data()[r * row_elements()];
    }
    std::size_t row_elements() const noexcept {
        std::size_t n = 1;
        for (std::size_t d : column_->dims) n *= d;
        return n;
    }
    const T* data() const noexcept { return reinterpret_cast<const T*>(column_->section[0]); }
    /// The column as an xtensor expression of shape (rows, ...); valid while the store is open.
    auto view() const {
        std::vector<std::size_t> shape{size()};
        shape.insert(shape.end(), column_->dims.begin(), column_->dims.end());
        return xt::adapt(data(), size() * row_elements(), xt::no_ownership(), shape);
    }
};

/// A ragged column: row r is a span of T of its own length.
template <class T>
class frozen_ragged : public detail::frozen_view_base {
public:
    using frozen_view_base::frozen_view_base;
    /// Row r's values. Throws invalid_argument_error past the end, format_error when the
    /// store's offsets are corrupt.
    std::span<const T> operator[](std::size_t r) const {
        const auto [b, e] = bounds(r, values_bytes() / sizeof(T));
        return {reinterpret_cast<const T*>(values_section()) + b, e - b};
    }
    /// Every value, in the order stored (rows in order; de-duplicated rows once).
    std::span<const T> values() const noexcept {
        return {reinterpret_cast<const T*>(values_section()), values_bytes() / sizeof(T)};
    }
};

/// A strings column: row r is a string_view into the store.
class frozen_strings : public detail::frozen_view_base {
public:
    using frozen_view_base::frozen_view_base;
    /// Row r's text. Throws as frozen_ragged::operator[].
    std::string_view operator[](std::size_t r) const {
        const auto [b, e] = bounds(r, values_bytes());
        return {reinterpret_cast<const char*>(values_section()) + b, e - b};
    }
};

/// A map from keys (the values of a strings or int64 column) to rows.
class frozen_index : public detail::frozen_view_base {
public:
    using frozen_view_base::frozen_view_base;
    /// The row of `key`, or nullopt.
    std::optional<std::size_t> find(std::string_view key) const noexcept {
        return detail::frozen_find(*state_, *column_, key.data(), key.size(), false);
    }
    std::optional<std::size_t> find(std::int64_t key) const noexcept {
        return detail::frozen_find(*state_, *column_, &key, sizeof key, true);
    }
    bool contains(std::string_view key) const noexcept { return find(key).has_value(); }
    /// The row of `key`; throws not_found_error naming the key, the index and the store.
    std::size_t at(std::string_view key) const {
        if (auto r = find(key)) return *r;
        throw not_found_error("key '" + std::string(key) + "' is not in index '" + column_->name +
                              "' of " + state_->who);
    }
    std::size_t at(std::int64_t key) const {
        if (auto r = find(key)) return *r;
        throw not_found_error("key " + std::to_string(key) + " is not in index '" +
                              column_->name + "' of " + state_->who);
    }
};

/// A frozen store, opened read-only: a handle, small and trivially copyable, so pool tasks
/// capture it by value and take their column views inside the task. Safe across fork: a copy in
/// another process maps the store by name on first use.
class SHMPOOL_API frozen {
public:
    frozen() = default;

    /// Opens the store NAME of /dev/shm (or SHMPOOL_SHM_DIR), or the file. Throws
    /// not_found_error, format_error (not a store, or corrupt: the message says where),
    /// type_mismatch_error (another kind of segment: both named).
    static frozen open(std::string_view name);
    static frozen open(const file_path& file);
    /// Removes the store's name (processes that have it open keep reading it). Throws
    /// not_found_error, type_mismatch_error (not a frozen store: left alone).
    static void remove(std::string_view name);
    static void remove(const file_path& file);

    /// Rows of every column (an index has one entry per row).
    std::size_t rows() const { return state().rows; }
    /// The name given to open(), or the file path; the file.
    std::string_view name() const noexcept { return handle_.where().text(); }
    std::string path() const { return handle_.where().path(); }
    /// The columns, in the order they were built.
    std::vector<frozen_column_info> columns() const;
    /// The store's bytes (every column and the table of contents).
    std::size_t bytes() const;

    /// Column views, valid while this process has the store mapped. Throw not_found_error (no
    /// such column; the message lists them) and type_mismatch_error (another kind, or elements
    /// of another type than T: both named).
    template <class T>
    frozen_array<T> array(std::string_view column) const {
        return {state(), state().column(column, 1, dtype_of<T>)};
    }
    template <class T>
    frozen_ragged<T> ragged(std::string_view column) const {
        return {state(), state().column(column, 2, dtype_of<T>)};
    }
    frozen_strings strings(std::string_view column) const {
        return {state(), state().column(column, 3, std::nullopt)};
    }
    frozen_index index(std::string_view name) const {
        return {state(), state().column(name, 4, std::nullopt)};
    }

    /// Advice: reads the given columns into memory now (MADV_WILLNEED, then one touch per
    /// page), and with `lock` keeps them there (mlock; may fail under RLIMIT_MEMLOCK: throws
    /// system_error saying so). The other columns are paged in as they are read.
    void keep_in_memory(std::initializer_list<std::string_view> columns, bool lock = false) const;

private:
    friend class frozen_builder;
    friend class layered_store;
    friend class layered_row;
    explicit frozen(detail::mapped_segment& s) noexcept : handle_(s) {}
    const detail::frozen_state& state() const;
    detail::segment_handle handle_;
};

}  // namespace shmpool
