// The bytes of a frozen store (shmpool::frozen): the data of a segment of kind "frozen", whose
// .npy header declares it a flat uint8 array (numpy maps it whole), laid out as
//
//   0            the store header (frozen_header, 64 bytes)
//   64           the table of contents: one frozen_column (256 bytes) per column
//   page-aligned each column's sections, in the order of the table; every offset is from the
//                start of the store (the segment's data), every section starts on a 4096-byte
//                boundary of the file
//
// Column kinds and their sections (numbers little-endian, as the machine writes them):
//   array    (rows, d1, ...) elements of `descr`                      [data]
//   ragged   row r is values[offsets[r] : offsets[r + 1]]             [offsets u64 (rows + 1), values]
//   strings  row r is bytes[offsets[r] : offsets[r + 1]] (UTF-8)      [offsets u64 (rows + 1), bytes]
//   index    a map from the keys of a strings or int64 column (`keys`) to rows: entries sorted by
//            XXH3-64 of the key's bytes (an int64 key: its 8 bytes), seed 0; the entries with the
//            same top `bucket_bits` bits of the hash are [directory[b], directory[b + 1])
//                                                                    [hashes u64 (n), rows u32 or u64 (n), directory u64 (2^bits + 1)]
//   Ragged and strings columns written with de-duplication hold [starts u64 (rows), ends u64
//   (rows), values]: rows with the same content share it. With the flag offsets32 (a column of
//   fewer than 2^32 values) offsets, starts and ends are u32.
// python/shmpool_frozen.py reads the same layout with numpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shmpool::detail {

inline constexpr char frozen_magic[8] = {'S', 'H', 'M', 'P', 'F', 'R', 'Z', '1'};
inline constexpr std::uint32_t frozen_version = 1;
inline constexpr std::size_t frozen_name_max = 127;
inline constexpr std::size_t frozen_max_sections = 4;
inline constexpr std::size_t frozen_max_rank = 4;

enum class frozen_kind : std::uint32_t { array = 1, ragged = 2, strings = 3, index = 4 };
inline constexpr std::uint32_t frozen_flag_dedup = 1;        // ragged, strings: starts + ends
inline constexpr std::uint32_t frozen_flag_rows32 = 2;       // index: rows as u32
inline constexpr std::uint32_t frozen_flag_int_keys = 4;     // index: over an int64 column
inline constexpr std::uint32_t frozen_flag_offsets32 = 8;    // ragged, strings: u32 offsets

struct frozen_header {
    char magic[8];
    std::uint32_t version;
    std::uint32_t columns;
    std::uint64_t rows;
    std::uint64_t toc_offset;  // 64
    std::uint64_t body_bytes;  // the store's size, every section included
    std::uint8_t reserved[24];
};
static_assert(sizeof(frozen_header) == 64);

struct frozen_section {
    std::uint64_t offset;
    std::uint64_t bytes;
};

struct frozen_column {
    char name[frozen_name_max + 1];  // NUL-terminated
    std::uint32_t kind;              // frozen_kind
    std::uint32_t flags;
    char descr[8];                   // numpy's: "<f4", "<i8", "|u1" (strings and index: "|u1")
    std::uint32_t rank;              // array: dims of a row, after the rows (0: a scalar per row)
    std::uint32_t keys_column;       // index: the column whose values are the keys
    std::uint64_t dims[frozen_max_rank];  // array: a row's shape
    std::uint32_t bucket_bits;       // index
    std::uint32_t sections;          // how many of `section` are used
    frozen_section section[frozen_max_sections];
};
static_assert(sizeof(frozen_column) == 256);

/// A store's header and table of contents, checked: every section inside the store, aligned
/// and of the size its column's kind needs, names unique and terminated, kinds known, index
/// keys naming a strings or int64 column. Throws format_error naming `who`.
struct frozen_toc {
    frozen_header header{};
    std::vector<frozen_column> columns;
};
frozen_toc read_frozen_toc(const std::byte* data, std::size_t bytes, const std::string& who);

/// "array", "ragged", "strings", "index".
std::string_view frozen_kind_name(std::uint32_t kind) noexcept;

/// XXH3-64 of `bytes` (seed 0): the hash the format fixes for index keys.
std::uint64_t frozen_hash(const void* bytes, std::size_t size) noexcept;

}  // namespace shmpool::detail
