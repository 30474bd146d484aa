// Reading and checking a frozen store's header and table of contents (see frozen_format.hpp).
#include "frozen_format.hpp"

#include <cstring>
#include <set>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "segment_format.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {
namespace {

std::size_t element_size_of(const char* descr) {
    const std::optional<dtype> t = dtype_from_descr(std::string(descr, strnlen(descr, 8)));
    return t ? dtype_size(*t) : 0;
}

// What a column's sections must hold, given the store's rows: the bytes of each (0: any
// multiple of `unit`, checked against the offsets elsewhere).
struct expected_sections {
    std::uint32_t count = 0;
    std::uint64_t bytes[frozen_max_sections] = {};
};

std::string column_who(const std::string& who, const frozen_column& c) {
    return who + ", column '" + std::string(c.name, strnlen(c.name, sizeof c.name)) + "'";
}

void check_column(const frozen_toc& toc, std::size_t k, const std::string& who) {
    const frozen_column& c = toc.columns[k];
    const std::uint64_t rows = toc.header.rows;
    const std::string where = column_who(who, c);
    if (c.name[frozen_name_max] != '\0' || c.name[0] == '\0')
        throw format_error(who + ": column " + std::to_string(k) + " has no usable name");
    if (c.sections > frozen_max_sections)
        throw format_error(where + ": " + std::to_string(c.sections) + " sections (at most 4)");
    const std::uint64_t end = toc.header.body_bytes;
    for (std::uint32_t s = 0; s < c.sections; ++s) {
        const frozen_section& sec = c.section[s];
        if (sec.offset % page_size != 0 || sec.offset > end || sec.bytes > end - sec.offset)
            throw format_error(where + ": section " + std::to_string(s) + " [" +
                               std::to_string(sec.offset) + ", +" + std::to_string(sec.bytes) +
                               ") is not an aligned part of the store's " + std::to_string(end) +
                               " bytes (truncated or corrupt)");
    }
    const bool dedup = (c.flags & frozen_flag_dedup) != 0;
    const std::size_t elem = element_size_of(c.descr);
    switch (static_cast<frozen_kind>(c.kind)) {
        case frozen_kind::array: {
            if (elem == 0 || c.sections != 1 || c.rank > frozen_max_rank)
                throw format_error(where + ": not a usable array column");
            std::uint64_t per_row = elem;
            for (std::uint32_t d = 0; d < c.rank; ++d) {
                if (c.dims[d] != 0 && per_row > (std::uint64_t{1} << 50) / c.dims[d])
                    throw format_error(where + ": its row shape overflows");
                per_row *= c.dims[d];
            }
            if (per_row != 0 && rows > (std::uint64_t{1} << 60) / per_row)
                throw format_error(where + ": its size overflows");
            if (c.section[0].bytes != rows * per_row)
                throw format_error(where + ": holds " + std::to_string(c.section[0].bytes) +
                                   " bytes, its shape needs " + std::to_string(rows * per_row));
            return;
        }
        case frozen_kind::ragged:
        case frozen_kind::strings: {
            const std::uint64_t w = (c.flags & frozen_flag_offsets32) ? 4 : 8;
            const std::uint32_t sections = dedup ? 3 : 2;
            if (elem == 0 || c.sections != sections ||
                (dedup ? c.section[0].bytes != w * rows || c.section[1].bytes != w * rows
                       : c.section[0].bytes != w * (rows + 1)) ||
                c.section[sections - 1].bytes % elem != 0)
                throw format_error(where + ": not a usable " +
                                   std::string(frozen_kind_name(c.kind)) + " column");
            return;
        }
        case frozen_kind::index: {
            if (c.keys_column >= toc.columns.size() || c.keys_column == k)
                throw format_error(where + ": its keys column does not exist");
            const frozen_column& keys = toc.columns[c.keys_column];
            const bool int_keys = (c.flags & frozen_flag_int_keys) != 0;
            const bool keys_ok = int_keys ? keys.kind == std::uint32_t(frozen_kind::array) &&
                                                keys.rank == 0 && std::string(keys.descr) == "<i8"
                                          : keys.kind == std::uint32_t(frozen_kind::strings);
            const std::uint64_t row_bytes = (c.flags & frozen_flag_rows32) ? 4 : 8;
            if (!keys_ok || c.sections != 3 || c.bucket_bits > 40 ||
                c.section[0].bytes != 8 * rows || c.section[1].bytes != row_bytes * rows ||
                c.section[2].bytes != 8 * ((std::uint64_t{1} << c.bucket_bits) + 1))
                throw format_error(where + ": not a usable index");
            return;
        }
    }
    throw format_error(where + ": unknown column kind " + std::to_string(c.kind) +
                       " (a newer shmpool wrote it?)");
}

}  // namespace

frozen_toc read_frozen_toc(const std::byte* data, std::size_t bytes, const std::string& who) {
    frozen_toc toc;
    if (bytes < sizeof(frozen_header))
        throw format_error(who + ": too small for a frozen store (" + std::to_string(bytes) +
                           " bytes)");
    std::memcpy(&toc.header, data, sizeof toc.header);
    const frozen_header& h = toc.header;
    if (std::memcmp(h.magic, frozen_magic, sizeof h.magic) != 0)
        throw format_error(who + ": not a frozen store (bad magic)");
    if (h.version != frozen_version)
        throw format_error(who + ": frozen store version " + std::to_string(h.version) +
                           ", this shmpool reads version " + std::to_string(frozen_version));
    if (h.body_bytes != bytes)
        throw format_error(who + ": the store says " + std::to_string(h.body_bytes) +
                           " bytes, the segment holds " + std::to_string(bytes) +
                           " (truncated or corrupt)");
    if (h.toc_offset != sizeof(frozen_header) || h.columns > 4096 ||
        h.toc_offset + std::uint64_t{h.columns} * sizeof(frozen_column) > bytes)
        throw format_error(who + ": its table of contents does not fit in the store");
    toc.columns.resize(h.columns);
    if (h.columns)
        std::memcpy(toc.columns.data(), data + h.toc_offset, h.columns * sizeof(frozen_column));
    std::set<std::string> names;
    for (std::size_t k = 0; k < toc.columns.size(); ++k) {
        check_column(toc, k, who);
        if (!names.insert(toc.columns[k].name).second)
            throw format_error(column_who(who, toc.columns[k]) + ": the name appears twice");
    }
    return toc;
}

std::string_view frozen_kind_name(std::uint32_t kind) noexcept {
    switch (static_cast<frozen_kind>(kind)) {
        case frozen_kind::array: return "array";
        case frozen_kind::ragged: return "ragged";
        case frozen_kind::strings: return "strings";
        case frozen_kind::index: return "index";
    }
    return "unknown";
}

std::uint64_t frozen_hash(const void* bytes, std::size_t size) noexcept {
    return XXH3_64bits(bytes, size);
}

}  // namespace shmpool::detail
