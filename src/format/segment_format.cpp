#include "segment_format.hpp"

#include <cstring>
#include <limits>

#include "os.hpp"
#include "shmpool/detail/limits.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {
namespace {

std::optional<std::size_t> round_up_page(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() - (page_size - 1)) return std::nullopt;
    return (n + page_size - 1) / page_size * page_size;
}

// numpy's header is at most 65535 + 10 bytes in v1.0; larger v2/v3 headers are refused by numpy
// itself by default (max_header_size), so reading 64 KiB + a little covers every header we take.
constexpr std::size_t max_header_read = 65536 + 16;

}  // namespace

std::optional<std::size_t> element_count(const std::vector<std::size_t>& shape,
                                         std::size_t element_size) {
    // Like numpy, refuse shapes whose non-zero dimensions overflow even when another is 0.
    std::size_t count = 1;
    bool empty = false;
    for (std::size_t d : shape) {
        if (d == 0) {
            empty = true;
            continue;
        }
        if (count > std::numeric_limits<std::size_t>::max() / d) return std::nullopt;
        count *= d;
    }
    if (element_size > std::numeric_limits<std::size_t>::max() / count) return std::nullopt;
    return empty ? 0 : count;
}

std::optional<segment_layout> layout_for(dtype type, const std::vector<std::size_t>& shape) {
    const std::optional<std::size_t> count = element_count(shape, dtype_size(type));
    if (!count) return std::nullopt;
    segment_layout l;
    l.data_bytes = *count * dtype_size(type);
    const std::optional<std::size_t> padded = round_up_page(l.data_bytes);
    if (!padded || *padded > std::numeric_limits<std::int64_t>::max() / 2) return std::nullopt;
    l.trailer_offset = l.data_offset + *padded;
    l.total_bytes = l.trailer_offset + page_size;
    return l;
}

std::optional<dtype> dtype_from_descr(const std::string& descr) {
    static constexpr dtype all[] = {
        dtype::bool_,   dtype::int8,      dtype::int16,     dtype::int32,  dtype::int64,
        dtype::uint8,   dtype::uint16,    dtype::uint32,    dtype::uint64, dtype::float32,
        dtype::float64, dtype::complex64, dtype::complex128};
    if (descr.size() < 2) return std::nullopt;
    const char order = descr[0];
    const std::string rest = descr.substr(1);
    for (dtype t : all) {
        const std::string_view mine = npy_descr(t);  // "<f8" or "|b1"
        if (rest != mine.substr(1)) continue;
        const bool one_byte = dtype_size(t) == 1;
        if (order == '<' || order == '=' || (order == '|' && one_byte) ||
            (order == '>' && one_byte))
            return t;
    }
    return std::nullopt;
}

segment_description describe_fd(int fd, const std::string& path, const std::string& who) {
    const std::string prefix = who + " is not a valid array: ";
    segment_description d;
    d.file_size = static_cast<std::size_t>(stat_fd(fd, path).st_size);
    std::string head(std::min(d.file_size, max_header_read), '\0');
    head.resize(read_at(fd, head.data(), head.size(), 0, path));

    npy_parse_result parsed = parse_npy_header(head);
    if (!parsed.header) throw format_error(prefix + parsed.problem);
    d.header = std::move(*parsed.header);
    const npy_header& h = d.header;
    if (h.fortran_order)
        throw format_error(prefix +
                           "it is in Fortran order; shmpool maps C-order arrays only "
                           "(save it from numpy with np.ascontiguousarray)");
    const std::optional<dtype> type = dtype_from_descr(h.descr);
    if (!type) {
        const bool big = !h.descr.empty() && h.descr[0] == '>';
        throw format_error(
            prefix + "dtype '" + h.descr + "' is " +
            (big ? "big-endian; convert it with arr.astype(arr.dtype.newbyteorder('<'))"
                 : "not one shmpool maps (bool, intN, uintN, floatN, complexN)"));
    }
    d.type = *type;
    if (h.shape.empty() || h.shape.size() > max_rank)
        throw format_error(prefix + "rank " + std::to_string(h.shape.size()) + " is outside 1.." +
                           std::to_string(max_rank));
    const std::optional<std::size_t> count = element_count(h.shape, dtype_size(d.type));
    if (!count) throw format_error(prefix + "the shape's byte size overflows");
    d.count = *count;
    d.data_bytes = d.count * dtype_size(d.type);
    if (h.data_offset % dtype_size(d.type) != 0)
        throw format_error(prefix + "the data offset is not aligned for " +
                           std::string(dtype_name(d.type)));
    if (h.data_offset > d.file_size || d.data_bytes > d.file_size - h.data_offset)
        throw format_error(prefix + "truncated: the header announces " +
                           std::to_string(d.data_bytes) + " bytes of data after offset " +
                           std::to_string(h.data_offset) + " but the file holds " +
                           std::to_string(d.file_size) + " bytes");

    // The trailer, if shmpool wrote this segment.
    const std::optional<std::size_t> padded = round_up_page(d.data_bytes);
    if (padded && h.data_offset == npy_header_size &&
        d.file_size >= h.data_offset + *padded + sizeof(segment_trailer)) {
        segment_trailer t{};
        if (read_at(fd, &t, sizeof t, h.data_offset + *padded, path) == sizeof t &&
            std::memcmp(t.magic, trailer_magic, sizeof t.magic) == 0 &&
            t.data_bytes == d.data_bytes) {
            if (t.layout_version < 2) t.identity = array_identity();
            if (t.layout_version < 3) std::memset(t.creator_boot_id, 0, sizeof t.creator_boot_id);
            t.identity.type_name[max_type_name] = '\0';  // whatever the file says
            d.trailer = t;
            d.identity = t.identity;
        }
    }
    return d;
}

bool created_on_this_host(const segment_trailer& t) noexcept {
    static constexpr std::uint8_t unknown[16] = {};
    if (std::memcmp(t.creator_boot_id, unknown, sizeof unknown) == 0) return true;
    return std::memcmp(t.creator_boot_id, boot_id().data(), sizeof t.creator_boot_id) == 0;
}

bool creator_running(const segment_trailer& t) noexcept {
    if (!created_on_this_host(t)) return true;
    return process_alive(static_cast<pid_t>(t.creator_pid), t.creator_start_time);
}

std::string segment_description::describe(std::string_view name) const {
    return std::string(kind_name(identity.kind)) + " '" + std::string(name) + "'";
}

std::string_view kind_name(segment_kind k) noexcept {
    switch (k) {
        case segment_kind::array: return "array";
        case segment_kind::object: return "object";
        case segment_kind::value: return "value";
        case segment_kind::raw_value: return "raw_value";
        case segment_kind::value_array: return "value_array";
        case segment_kind::raw_array: return "raw_array";
        case segment_kind::frozen: return "frozen";
        case segment_kind::heap: return "heap";
    }
    return "segment";
}

}  // namespace shmpool::detail
