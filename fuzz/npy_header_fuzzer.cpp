// libFuzzer target for the .npy header parser and the checks layered on it.
//
// Each input is taken as the first bytes of a file. It is parsed with parse_npy_header (over an
// exact-size heap copy, so that AddressSanitizer reports any read past the end), and for every
// header that parses the invariants below are checked; a broken invariant aborts, which libFuzzer
// reports as a crash together with the input.
//
//   * a failed parse names its problem; a parsed header has 10 <= data_offset <= input size, and
//     the byte before data_offset is the header's closing '\n';
//   * the parse depends only on the bytes before data_offset: the input cut at data_offset parses
//     to the same header, the input cut one byte earlier does not parse;
//   * format_npy_header always writes 4096 bytes, and for a descr without quotes, backslashes or
//     NUL (at most 64 bytes) and a rank of at most 8 (what shmpool itself writes: max_rank) what
//     it writes parses back to the same descr and shape, C order, data_offset 4096;
//   * dtype_from_descr accepts a descr only if it is a dtype's own descr up to the byte-order
//     character, and '>' only for one-byte types;
//   * element_count returns the exact element count or nullopt, and nullopt only when the
//     count of the non-zero dimensions times the element size really overflows size_t
//     (always when there is no zero dimension);
//   * layout_for agrees with element_count and lays out header, page-rounded data and trailer;
//   * describe_fd on a memfd holding the bytes throws format_error exactly when it should, and
//     only format_error; what it returns is consistent with the parse.
//
// Links the format layer (src/format/) and the base layer below it; built by the fuzz preset:
//   cmake --preset fuzz && cmake --build --preset fuzz
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "npy_header.hpp"
#include "segment_format.hpp"
#include "shmpool/detail/limits.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/error.hpp"

namespace {

using shmpool::dtype;
namespace d = shmpool::detail;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "npy_header_fuzzer: invariant broken: %s\n", what);
    std::abort();
}

#define CHECK(cond)                       \
    do {                                  \
        if (!(cond)) fail(#cond);         \
    } while (false)

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

constexpr dtype all_dtypes[] = {
    dtype::bool_,  dtype::int8,    dtype::int16,   dtype::int32,     dtype::int64,
    dtype::uint8,  dtype::uint16,  dtype::uint32,  dtype::uint64,    dtype::float32,
    dtype::float64, dtype::complex64, dtype::complex128};

bool same_header(const d::npy_header& a, const d::npy_header& b) {
    return a.descr == b.descr && a.fortran_order == b.fortran_order && a.shape == b.shape &&
           a.data_offset == b.data_offset;
}

// element_count against an independent model.
void check_element_count(const std::vector<std::size_t>& shape, std::size_t element_size) {
    const std::optional<std::size_t> got = d::element_count(shape, element_size);
    bool has_zero = false, overflow = false;
    std::size_t nonzero_product = 1;
    for (std::size_t dim : shape) {
        if (dim == 0) {
            has_zero = true;
        } else if (!overflow && __builtin_mul_overflow(nonzero_product, dim, &nonzero_product)) {
            overflow = true;
        }
    }
    std::size_t bytes = 0;
    if (!overflow && __builtin_mul_overflow(nonzero_product, element_size, &bytes)) overflow = true;
    if (got) {
        const std::size_t exact = has_zero ? 0 : nonzero_product;
        CHECK(has_zero || !overflow);  // a value for a zero-free shape means no overflow
        CHECK(*got == exact);
    } else {
        CHECK(overflow);  // nullopt only when the byte size really overflows
    }
}

void check_dtype(const std::string& descr) {
    const std::optional<dtype> t = d::dtype_from_descr(descr);
    if (!t) {
        // Every dtype's own descr, and its '<' / '=' spellings, must be accepted.
        for (dtype u : all_dtypes) {
            const std::string_view mine = shmpool::npy_descr(u);
            CHECK(descr != mine);
            if (descr.size() == mine.size() && descr.substr(1) == mine.substr(1))
                CHECK(descr[0] != '<' && descr[0] != '=');
        }
        return;
    }
    const std::string_view mine = shmpool::npy_descr(*t);
    CHECK(descr.size() == mine.size());
    CHECK(descr.substr(1) == mine.substr(1));
    const bool one_byte = shmpool::dtype_size(*t) == 1;
    CHECK(descr[0] == '<' || descr[0] == '=' || (one_byte && (descr[0] == '|' || descr[0] == '>')));
}

void check_layout(dtype t, const std::vector<std::size_t>& shape) {
    const std::optional<d::segment_layout> l = d::layout_for(t, shape);
    const std::optional<std::size_t> count = d::element_count(shape, shmpool::dtype_size(t));
    if (!count) {
        CHECK(!l);
        return;
    }
    if (!l) return;  // data too large for an off_t: allowed
    CHECK(l->data_offset == d::npy_header_size);
    CHECK(l->data_bytes == *count * shmpool::dtype_size(t));
    CHECK(l->trailer_offset % d::page_size == 0);
    CHECK(l->trailer_offset >= l->data_offset + l->data_bytes);
    CHECK(l->trailer_offset - l->data_offset - l->data_bytes < d::page_size);
    CHECK(l->total_bytes == l->trailer_offset + d::page_size);
}

void check_round_trip(const d::npy_header& h) {
    const std::string out = d::format_npy_header(h.descr, h.shape);
    CHECK(out.size() == d::npy_header_size);
    CHECK(out.back() == '\n');
    const bool plain_descr = h.descr.size() <= 64 &&
                             h.descr.find_first_of(std::string_view("'\"\\\0", 4)) ==
                                 std::string::npos;
    if (!plain_descr || h.shape.size() > d::max_rank) return;
    const d::npy_parse_result again = d::parse_npy_header(out);
    CHECK(again.header.has_value());
    CHECK(again.header->descr == h.descr);
    CHECK(again.header->shape == h.shape);
    CHECK(!again.header->fortran_order);
    CHECK(again.header->data_offset == d::npy_header_size);
}

// describe_fd over a memfd holding the input.
void check_describe(std::string_view bytes, const d::npy_parse_result& parsed) {
    static const int fd = memfd_create("npy_header_fuzzer", 0);
    if (fd < 0) return;
    if (ftruncate(fd, 0) != 0) fail("ftruncate");
    if (!bytes.empty() &&
        pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
        fail("pwrite");
    std::optional<d::segment_description> desc;
    try {
        desc = d::describe_fd(fd, "/fuzz", "array 'fuzz'");
    } catch (const shmpool::format_error& e) {
        CHECK(std::string_view(e.what()).starts_with("array 'fuzz' is not a valid array: "));
        if (!parsed.header) return;
        const d::npy_header& h = *parsed.header;
        // Refused although it parses: one of describe_fd's own checks must apply.
        const std::optional<dtype> t = d::dtype_from_descr(h.descr);
        const bool refusable =
            h.fortran_order || !t || h.shape.empty() || h.shape.size() > d::max_rank ||
            !d::element_count(h.shape, shmpool::dtype_size(*t)) ||
            h.data_offset % shmpool::dtype_size(*t) != 0 ||
            *d::element_count(h.shape, shmpool::dtype_size(*t)) * shmpool::dtype_size(*t) >
                bytes.size() - h.data_offset;
        CHECK(refusable);
        return;
    }
    CHECK(parsed.header.has_value());
    CHECK(same_header(desc->header, *parsed.header));
    CHECK(!desc->header.fortran_order);
    CHECK(!desc->header.shape.empty() && desc->header.shape.size() <= d::max_rank);
    CHECK(d::dtype_from_descr(desc->header.descr) == desc->type);
    CHECK(desc->file_size == bytes.size());
    CHECK(d::element_count(desc->header.shape, shmpool::dtype_size(desc->type)) == desc->count);
    CHECK(desc->data_bytes == desc->count * shmpool::dtype_size(desc->type));
    CHECK(desc->header.data_offset % shmpool::dtype_size(desc->type) == 0);
    CHECK(desc->header.data_offset <= desc->file_size);
    CHECK(desc->data_bytes <= desc->file_size - desc->header.data_offset);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // An exact-size heap copy: a read one past the end is a heap-buffer-overflow for ASan.
    const std::unique_ptr<char[]> copy(new char[size]);
    if (size) std::memcpy(copy.get(), data, size);
    const std::string_view bytes(copy.get(), size);

    const d::npy_parse_result parsed = d::parse_npy_header(bytes);
    if (!parsed.header) {
        CHECK(!parsed.problem.empty());
        check_describe(bytes, parsed);
        return 0;
    }
    const d::npy_header& h = *parsed.header;
    CHECK(h.data_offset >= 10);
    CHECK(h.data_offset <= size);
    CHECK(bytes[h.data_offset - 1] == '\n');

    // Only the bytes before data_offset count.
    const d::npy_parse_result cut = d::parse_npy_header(bytes.substr(0, h.data_offset));
    CHECK(cut.header.has_value() && same_header(*cut.header, h));
    const d::npy_parse_result short_by_one =
        d::parse_npy_header(bytes.substr(0, h.data_offset - 1));
    CHECK(!short_by_one.header && !short_by_one.problem.empty());

    check_round_trip(h);
    check_dtype(h.descr);
    for (std::size_t element_size : {std::size_t{1}, std::size_t{2}, std::size_t{8},
                                     std::size_t{16}, size_max})
        check_element_count(h.shape, element_size);
    if (const std::optional<dtype> t = d::dtype_from_descr(h.descr)) check_layout(*t, h.shape);
    check_describe(bytes, parsed);
    return 0;
}
