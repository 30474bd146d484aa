// A frozen store as mapped in this process: its table of contents, checked once when the
// segment is mapped, with each section's address. Built by make_frozen_state (the view
// factory of frozen's segment handle). Not a public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/identity.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/dtype.hpp"

namespace shmpool::detail {

struct frozen_column_state {
    std::string name;
    std::uint32_t kind = 0;   // 1 array, 2 ragged, 3 strings, 4 index (frozen_format.hpp)
    std::uint32_t flags = 0;  // 1 de-duplicated, 2 index rows as u32, 4 int64 keys, 8 u32 offsets
    dtype type = dtype::uint8;
    std::vector<std::size_t> dims;  // array: the shape of a row
    std::size_t keys_column = 0;    // index
    std::uint32_t bucket_bits = 0;  // index
    const std::byte* section[4] = {};
    std::size_t bytes[4] = {};
};

/// [begin, end) of row `row` of a ragged or strings column, as its offsets (or, de-duplicated,
/// its starts and ends) say, in elements; not checked.
inline std::pair<std::uint64_t, std::uint64_t> frozen_row_span(const frozen_column_state& c,
                                                               std::size_t row) noexcept {
    const bool dedup = (c.flags & 1) != 0;
    if (c.flags & 8) {  // u32 offsets
        const auto* a = reinterpret_cast<const std::uint32_t*>(c.section[0]);
        return {a[row], dedup ? reinterpret_cast<const std::uint32_t*>(c.section[1])[row] : a[row + 1]};
    }
    const auto* a = reinterpret_cast<const std::uint64_t*>(c.section[0]);
    return {a[row], dedup ? reinterpret_cast<const std::uint64_t*>(c.section[1])[row] : a[row + 1]};
}

struct frozen_state {
    std::size_t rows = 0;
    std::vector<frozen_column_state> columns;
    std::string who;  // "frozen store 'catalogue'"

    /// The column `name` of `kind` holding `type` (any type for strings and indexes). Throws
    /// not_found_error (no such column: the message lists them), type_mismatch_error (another
    /// kind or element type: both named).
    SHMPOOL_API const frozen_column_state& column(std::string_view name, std::uint32_t kind,
                                                  std::optional<dtype> type) const;
};

/// What a frozen store's trailer records (kind frozen, type "shmpool::frozen").
SHMPOOL_API segment_identity frozen_identity() noexcept;

/// The view factory of a frozen store's segment: reads and checks its table of contents.
SHMPOOL_API std::shared_ptr<void> make_frozen_state(const mapped_segment& s);

/// The row whose key is the `size` bytes at `key` (a string's bytes, or with `int_key` an
/// int64's 8), or nullopt (also for a key of the other kind than the index's): the lookup.
SHMPOOL_API std::optional<std::size_t> frozen_find(const frozen_state& s,
                                                   const frozen_column_state& index,
                                                   const void* key, std::size_t size,
                                                   bool int_key) noexcept;

/// Row `row` of the array, ragged or strings column `c`: its first value and how many values
/// (elements of c.type; bytes for strings). Throws invalid_argument_error past the last row,
/// format_error for offsets outside the values.
SHMPOOL_API std::pair<const std::byte*, std::size_t> frozen_row_values(const frozen_state& s,
                                                                       const frozen_column_state& c,
                                                                       std::size_t row);

/// Throws format_error: row `row` of column `c` has offsets outside its values.
[[noreturn]] SHMPOOL_API void throw_bad_frozen_offsets(const frozen_state& s,
                                                       const frozen_column_state& c,
                                                       std::size_t row);

}  // namespace shmpool::detail
