// The bytes of a segment: a 4096-byte .npy v1.0 header, the data (page-aligned), and a
// one-page trailer that numpy ignores, holding what shmpool knows of the segment's creator.
//
//   0            4096                       4096 + round_up(data_bytes, 4096)
//   | npy header | data ...                 | trailer (4096 bytes) |
//
// Files that numpy wrote have no trailer; shmpool opens them all the same ("foreign" arrays).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "npy_header.hpp"
#include "shmpool/detail/identity.hpp"
#include "shmpool/dtype.hpp"

namespace shmpool::detail {

inline constexpr std::size_t page_size = 4096;
inline constexpr char trailer_magic[8] = {'S', 'H', 'M', 'P', 'O', 'O', 'L', '1'};

/// What shmpool records about a segment's creator, after the data. Layout version 1 ends with
/// data_bytes (arrays only); version 2 adds what the segment holds; version 3 the creator's
/// boot ID (its host: a PID is checked only on the host that recorded it).
struct segment_trailer {
    char magic[8];
    std::uint32_t layout_version;
    std::uint32_t flags;  // trailer_persistent
    std::int64_t creator_pid;
    std::uint64_t creator_start_time;  // clock ticks since boot, tells a reused PID apart
    std::int64_t created_unix_ns;
    std::uint64_t data_bytes;
    segment_identity identity;  // version 2: kind and C++ type (version 1: an array)
    std::uint8_t creator_boot_id[16];  // version 3: detail::boot_id() of the creator's host
};
inline constexpr std::uint32_t trailer_layout_version = 3;
static_assert(sizeof(segment_trailer) <= page_size);
inline constexpr std::uint32_t trailer_persistent = 1;

/// Whether the trailer's creator ran on this host, in this boot: false only when the trailer
/// records another boot ID (a segment in a directory several hosts share, or a file kept
/// across a reboot). Its PID means nothing here then.
bool created_on_this_host(const segment_trailer& t) noexcept;
/// Whether the creator still runs. A creator of another host (created_on_this_host false)
/// counts as running: it cannot be checked from here, so nothing is removed on its account.
bool creator_running(const segment_trailer& t) noexcept;

/// Byte offsets of a segment of `count` elements of `type`, or nullopt when they overflow.
struct segment_layout {
    std::size_t data_offset = npy_header_size;
    std::size_t data_bytes = 0;
    std::size_t trailer_offset = 0;
    std::size_t total_bytes = 0;
};
std::optional<segment_layout> layout_for(dtype type, const std::vector<std::size_t>& shape);

/// Element count of a shape, or nullopt when it overflows or its bytes overflow.
std::optional<std::size_t> element_count(const std::vector<std::size_t>& shape,
                                         std::size_t element_size);

/// The dtype a numpy descr names ("<f8", "|b1", "=i4"...), or nullopt.
std::optional<dtype> dtype_from_descr(const std::string& descr);

/// A segment's header and trailer as read from its file, checked for consistency.
struct segment_description {
    npy_header header;
    dtype type = dtype::float64;
    std::size_t count = 0;
    std::size_t data_bytes = 0;
    std::size_t file_size = 0;
    std::optional<segment_trailer> trailer;  // absent for files numpy wrote
    segment_identity identity;               // from the trailer; an array when it has none

    /// "object 'cfg'", "value 'hits'", "array 'grid'": how messages name what it is.
    std::string describe(std::string_view name) const;
};

/// Reads and checks the header (and trailer) of an open file. Throws format_error, naming
/// `who` ("array 'grid' (/dev/shm/grid)"), when the bytes are not a usable array.
segment_description describe_fd(int fd, const std::string& path, const std::string& who);

}  // namespace shmpool::detail
