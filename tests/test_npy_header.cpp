// The .npy header parser and writer (src/npy_header.*), and the checks built on them
// (src/segment_format.*: dtype_from_descr, element_count, layout_for, describe_fd).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "npy_header.hpp"
#include "segment_format.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/error.hpp"

#ifndef SHMPOOL_PYTHON
#define SHMPOOL_PYTHON "/usr/bin/python3"
#endif

namespace {

using namespace std::string_literals;
using shmpool::dtype;
using shmpool::detail::dtype_from_descr;
using shmpool::detail::element_count;
using shmpool::detail::format_npy_header;
using shmpool::detail::npy_header_size;
using shmpool::detail::npy_parse_result;
using shmpool::detail::parse_npy_header;

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
const std::string magic = "\x93NUMPY";

// A header as numpy 1.24 writes it: magic, version, little-endian length (2 bytes for 1.0,
// 4 for 2.0 and 3.0), the dict padded with spaces so that the whole is a multiple of 64 bytes
// (numpy's _wrap_header: always at least one space), and a final '\n'.
std::string numpy_style(std::string_view dict, int major = 1) {
    const std::size_t preamble = major == 1 ? 10 : 12;
    const std::size_t total = (preamble + dict.size() + 1) / 64 * 64 + 64;
    std::string text(dict);
    text.resize(total - preamble - 1, ' ');
    text += '\n';
    std::string out = magic;
    out += static_cast<char>(major);
    out += '\0';
    for (std::size_t i = 0; i < preamble - 8; ++i)
        out += static_cast<char>((text.size() >> (8 * i)) & 0xff);
    return out + text;
}

// A header with an exact text (no padding), version 1.0.
std::string raw_v1(std::string_view text) {
    std::string out = magic + "\x01"s + '\0';
    out += static_cast<char>(text.size() & 0xff);
    out += static_cast<char>(text.size() >> 8);
    out += text;
    return out;
}

std::string dict_with_shape(std::string_view shape) {
    return "{'descr': '<f8', 'fortran_order': False, 'shape': " + std::string(shape) + ", }";
}

// Expects a parse failure whose message contains `fragment`.
void expect_problem(std::string_view bytes, std::string_view fragment) {
    const npy_parse_result r = parse_npy_header(bytes);
    EXPECT_FALSE(r.header.has_value()) << "parsed: " << std::string(bytes);
    EXPECT_NE(r.problem.find(fragment), std::string::npos)
        << "problem '" << r.problem << "' lacks '" << fragment << "'";
}

std::vector<std::size_t> parsed_shape(std::string_view bytes) {
    const npy_parse_result r = parse_npy_header(bytes);
    EXPECT_TRUE(r.header.has_value()) << r.problem;
    return r.header ? r.header->shape : std::vector<std::size_t>{999};
}

// --- what format_npy_header writes --------------------------------------------------------------

TEST(FormatNpyHeader, WritesOnePageV1HeaderThatParsesBack) {
    const std::vector<std::vector<std::size_t>> shapes = {
        {5}, {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, {0}, {2, 0, 7}, {0, 0}};
    for (const auto& shape : shapes) {
        const std::string h = format_npy_header("<f8", shape);
        ASSERT_EQ(h.size(), npy_header_size);
        EXPECT_EQ(h.substr(0, 8), magic + "\x01"s + '\0');
        // Length field: 4096 - 10 = 4086 = 0x0ff6, little-endian.
        EXPECT_EQ(static_cast<unsigned char>(h[8]), 0xf6);
        EXPECT_EQ(static_cast<unsigned char>(h[9]), 0x0f);
        EXPECT_EQ(h.back(), '\n');
        // Only spaces between the dict and the final newline.
        const std::size_t close = h.find('}');
        ASSERT_NE(close, std::string::npos);
        EXPECT_EQ(h.find_first_not_of(' ', close + 1), npy_header_size - 1);

        const npy_parse_result r = parse_npy_header(h);
        ASSERT_TRUE(r.header.has_value()) << r.problem;
        EXPECT_EQ(r.header->descr, "<f8");
        EXPECT_FALSE(r.header->fortran_order);
        EXPECT_EQ(r.header->shape, shape);
        EXPECT_EQ(r.header->data_offset, 4096u);
    }
}

TEST(FormatNpyHeader, WritesTheDictAsPythonWould) {
    EXPECT_EQ(format_npy_header("<f8", {3, 4}).substr(10, 60),
              "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } ");
    EXPECT_EQ(format_npy_header("|b1", {5}).substr(10, 58),
              "{'descr': '|b1', 'fortran_order': False, 'shape': (5,), } ");  // 1-tuple
    EXPECT_EQ(format_npy_header("<i4", {}).substr(10, 56),
              "{'descr': '<i4', 'fortran_order': False, 'shape': (), } ");
}

TEST(FormatNpyHeader, LargestShmpoolHeaderStillFits) {
    // Rank 8 (max_rank), every dimension with 20 digits, the longest descr.
    const std::vector<std::size_t> shape(8, size_max);
    const std::string h = format_npy_header("<c16", shape);
    ASSERT_EQ(h.size(), npy_header_size);
    EXPECT_NE(h.find("18446744073709551615), }"), std::string::npos);
    const npy_parse_result r = parse_npy_header(h);
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->shape, shape);
    EXPECT_EQ(r.header->descr, "<c16");
}

TEST(FormatNpyHeader, ZeroDimensional) {
    const npy_parse_result r = parse_npy_header(format_npy_header("<f8", {}));
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_TRUE(r.header->shape.empty());
    EXPECT_EQ(r.header->data_offset, 4096u);
}

// --- numpy's own headers --------------------------------------------------------------------------

TEST(ParseNpyHeader, ExactBytesNumpyWritesForZeros3x4) {
    // np.save(f, np.zeros((3, 4))), numpy 1.24: header length 118 = 0x76 ('v').
    const std::string numpy_bytes =
        "\x93NUMPY\x01"s + '\0' + "v"s + '\0' +
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" + std::string(58, ' ') + "\n";
    ASSERT_EQ(numpy_bytes.size(), 128u);
    EXPECT_EQ(numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }"),
              numpy_bytes);

    const npy_parse_result r = parse_npy_header(numpy_bytes + std::string(96, '\0'));
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->descr, "<f8");
    EXPECT_FALSE(r.header->fortran_order);
    EXPECT_EQ(r.header->shape, (std::vector<std::size_t>{3, 4}));
    EXPECT_EQ(r.header->data_offset, 128u);
}

// The headers built by numpy_style() match what the numpy on this machine writes.
TEST(ParseNpyHeader, MatchesRealNumpyOutput) {
    const std::string python = SHMPOOL_PYTHON;
    if (python.empty()) GTEST_SKIP() << "no python3 with numpy";
    const std::string script =
        "import io, numpy as np\n"
        "from numpy.lib import format as f\n"
        "for a, v in [(np.zeros((3, 4)), (1, 0)), (np.zeros((3, 4)), (2, 0)),\n"
        "             (np.zeros(5, dtype=bool), (1, 0)), (np.array(1.5), (1, 0))]:\n"
        "    b = io.BytesIO(); f.write_array(b, a, version=v); d = b.getvalue()\n"
        "    print(d[:d.index(b'\\n') + 1].hex())\n";
    const std::string command = "'" + python + "' -c \"$NPY_SCRIPT\" 2>/dev/null";
    ::setenv("NPY_SCRIPT", script.c_str(), 1);
    FILE* p = ::popen(command.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    if (::pclose(p) != 0 || out.empty()) GTEST_SKIP() << python << " cannot import numpy";

    const auto hex = [](const std::string& s) {
        std::string h;
        for (unsigned char c : s) {
            static const char digits[] = "0123456789abcdef";
            h += digits[c >> 4];
            h += digits[c & 15];
        }
        return h + "\n";
    };
    const std::string expected =
        hex(numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }")) +
        hex(numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", 2)) +
        hex(numpy_style("{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }")) +
        hex(numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (), }"));
    EXPECT_EQ(out, expected);
}

TEST(ParseNpyHeader, Version2And3HaveAFourByteLength) {
    const std::string v2 =
        numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", 2);
    ASSERT_EQ(v2.size(), 128u);
    EXPECT_EQ(v2.substr(6, 6), "\x02"s + '\0' + "t"s + '\0' + '\0' + '\0');  // 116
    npy_parse_result r = parse_npy_header(v2);
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->shape, (std::vector<std::size_t>{3, 4}));
    EXPECT_EQ(r.header->data_offset, 128u);

    const std::string v3 =
        numpy_style("{'descr': '<i8', 'fortran_order': True, 'shape': (7,), }", 3);
    r = parse_npy_header(v3);
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->descr, "<i8");
    EXPECT_TRUE(r.header->fortran_order);
    EXPECT_EQ(r.header->shape, (std::vector<std::size_t>{7}));
    EXPECT_EQ(r.header->data_offset, v3.size());
}

TEST(ParseNpyHeader, OneAndZeroDimensionalShapes) {
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(5,)"))), (std::vector<std::size_t>{5}));
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("()"))), (std::vector<std::size_t>{}));
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(0,)"))), (std::vector<std::size_t>{0}));
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(2, 3,)"))),
              (std::vector<std::size_t>{2, 3}));
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(18446744073709551615,)"))),
              (std::vector<std::size_t>{size_max}));
}

TEST(ParseNpyHeader, DoubleQuotesAndOtherKeyOrder) {
    const npy_parse_result r = parse_npy_header(
        numpy_style("{\"shape\": (2, 5), \"fortran_order\": True, \"descr\": \"|u1\"}"));
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->descr, "|u1");
    EXPECT_TRUE(r.header->fortran_order);
    EXPECT_EQ(r.header->shape, (std::vector<std::size_t>{2, 5}));
}

TEST(ParseNpyHeader, Python2LongIntegers) {
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(3L, 4L)"))),
              (std::vector<std::size_t>{3, 4}));
    EXPECT_EQ(parsed_shape(numpy_style(dict_with_shape("(5L,)"))), (std::vector<std::size_t>{5}));
}

TEST(ParseNpyHeader, DataOffsetIgnoresTheBytesThatFollow) {
    const std::string h = numpy_style(dict_with_shape("(3, 4)"));
    const npy_parse_result r = parse_npy_header(h + "{'descr': garbage\n" + std::string(9, '\0'));
    ASSERT_TRUE(r.header.has_value()) << r.problem;
    EXPECT_EQ(r.header->data_offset, h.size());
}

// --- refused headers ------------------------------------------------------------------------------

TEST(ParseNpyHeader, RejectsBadMagic) {
    std::string h = numpy_style(dict_with_shape("(3, 4)"));
    h[5] = 'Z';
    expect_problem(h, "bad magic");
    expect_problem(numpy_style(dict_with_shape("(3, 4)")).substr(1), "bad magic");
    expect_problem("PK\x03\x04 this is a zip file", "bad magic");
}

TEST(ParseNpyHeader, RejectsEveryTruncation) {
    for (int major : {1, 2}) {
        const std::string h = numpy_style(dict_with_shape("(3, 4)"), major);
        ASSERT_TRUE(parse_npy_header(h).header.has_value());
        for (std::size_t n = 0; n < h.size(); ++n)
            expect_problem(std::string_view(h).substr(0, n), "truncated");
    }
}

TEST(ParseNpyHeader, RejectsUnknownVersions) {
    std::string h = numpy_style(dict_with_shape("(3, 4)"));
    h[6] = 4;
    expect_problem(h, "unsupported .npy version 4.0");
    h[6] = 0;
    expect_problem(h, "unsupported .npy version 0.0");
    h[6] = 1;
    h[7] = 1;
    expect_problem(h, "unsupported .npy version 1.1");
}

TEST(ParseNpyHeader, RejectsMissingDuplicateAndExtraKeys) {
    expect_problem(numpy_style("{'descr': '<f8', 'fortran_order': False, }"), "lacks");
    expect_problem(numpy_style("{'descr': '<f8', 'shape': (3,), }"), "lacks");
    expect_problem(numpy_style("{'fortran_order': False, 'shape': (3,), }"), "lacks");
    expect_problem(numpy_style("{}"), "lacks");
    expect_problem(
        numpy_style("{'descr': '<f8', 'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"),
        "duplicate key 'descr'");
    expect_problem(
        numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'shape': (4,), }"),
        "duplicate key 'shape'");
    expect_problem(numpy_style("{'descr': '<f8', 'fortran_order': False, 'fortran_order': True, "
                               "'shape': (3,), }"),
                   "duplicate key 'fortran_order'");
    expect_problem(
        numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1, }"),
        "unexpected key 'extra'");
}

TEST(ParseNpyHeader, RejectsStructuredDtypes) {
    expect_problem(numpy_style("{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, "
                               "'shape': (3,), }"),
                   "structured");
}

TEST(ParseNpyHeader, RejectsMalformedValues) {
    expect_problem(numpy_style("{'descr': '<f8', 'fortran_order': false, 'shape': (3,), }"),
                   "'fortran_order' is not True or False");
    expect_problem(numpy_style("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }"),
                   "'fortran_order' is not True or False");
    expect_problem(numpy_style("{'descr': '<f\\x38', 'fortran_order': False, 'shape': (3,), }"),
                   "'descr'");
    expect_problem(numpy_style("{'descr': '<f8', 'fortran_order': False, 'shape': [3], }"),
                   "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(3 4)")), "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(3,,)")), "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(,)")), "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(3.0,)")), "'shape' is not a tuple");
    expect_problem(numpy_style("'descr': '<f8'"), "not a dict");
    expect_problem(numpy_style("{descr: '<f8', 'fortran_order': False, 'shape': (3,), }"),
                   "quoted key");
    expect_problem(numpy_style("{'descr' '<f8', 'fortran_order': False, 'shape': (3,), }"),
                   "expected ':'");
    expect_problem(numpy_style("{'descr': '<f8' 'fortran_order': False, 'shape': (3,), }"),
                   "expected ',' or '}'");
    expect_problem(numpy_style(dict_with_shape("(3,)") + " x"), "text after the header dict");
    expect_problem(numpy_style("{'descr': '<f8, 'fortran_order': False, 'shape': (3,), }"),
                   "expected ',' or '}'");  // the descr string swallows ", "
}

TEST(ParseNpyHeader, RejectsNegativeAndOverflowingDimensions) {
    expect_problem(numpy_style(dict_with_shape("(-1,)")), "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(3, -4)")), "'shape' is not a tuple");
    // 2**64 and beyond do not fit a size_t.
    expect_problem(numpy_style(dict_with_shape("(18446744073709551616,)")),
                   "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(99999999999999999999999999,)")),
                   "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(18446744073709551620,)")),
                   "'shape' is not a tuple");
}

TEST(ParseNpyHeader, RejectsHeaderWithoutFinalNewline) {
    std::string h = numpy_style(dict_with_shape("(3, 4)"));
    h.back() = ' ';
    expect_problem(h, "newline");
    expect_problem(raw_v1(""), "newline");
    expect_problem(raw_v1(dict_with_shape("(3, 4)")), "newline");
    // A newline after the announced length does not count.
    expect_problem(raw_v1(dict_with_shape("(3, 4)")) + "\n", "newline");
}

TEST(ParseNpyHeader, RejectsNulInsideTheHeader) {
    std::string h = numpy_style(dict_with_shape("(3, 4)"));
    h[h.size() - 3] = '\0';  // in the padding
    expect_problem(h, "NUL");
    std::string in_descr = numpy_style("{'descr': '<f8\0', 'fortran_order': False, 'shape': (3,), }"s);
    expect_problem(in_descr, "NUL");
}

TEST(ParseNpyHeader, RejectsALengthBeyondTheBytes) {
    std::string h = numpy_style(dict_with_shape("(3, 4)"));
    h[8] = static_cast<char>(0xff);
    h[9] = static_cast<char>(0xff);
    expect_problem(h, "truncated");
    std::string v2 = numpy_style(dict_with_shape("(3, 4)"), 2);
    v2[11] = static_cast<char>(0x80);  // 2 GiB
    expect_problem(v2, "truncated");
}

// numpy refuses "(L,)" ("malformed node or string"); the parser takes a lone 'L' for the
// integer 0. Enable once integer() requires a digit before the Python 2 'L' suffix.
TEST(ParseNpyHeader, RejectsLongSuffixWithoutDigits) {
    expect_problem(numpy_style(dict_with_shape("(L,)")), "'shape' is not a tuple");
    expect_problem(numpy_style(dict_with_shape("(3, L)")), "'shape' is not a tuple");
}

// --- dtype_from_descr -----------------------------------------------------------------------------

TEST(DtypeFromDescr, AcceptsLittleEndianNativeAndOneByteTypes) {
    EXPECT_EQ(dtype_from_descr("<f8"), dtype::float64);
    EXPECT_EQ(dtype_from_descr("|b1"), dtype::bool_);
    EXPECT_EQ(dtype_from_descr("=i4"), dtype::int32);
    EXPECT_EQ(dtype_from_descr("|u1"), dtype::uint8);
    EXPECT_EQ(dtype_from_descr(">i1"), dtype::int8);
    EXPECT_EQ(dtype_from_descr("<c16"), dtype::complex128);
    EXPECT_EQ(dtype_from_descr("<u8"), dtype::uint64);
    // Every dtype's own descr.
    for (int i = 0; i <= static_cast<int>(dtype::complex128); ++i) {
        const auto t = static_cast<dtype>(i);
        EXPECT_EQ(dtype_from_descr(std::string(shmpool::npy_descr(t))), t) << shmpool::npy_descr(t);
    }
}

TEST(DtypeFromDescr, RejectsBigEndianUnknownAndMalformed) {
    for (const char* descr : {">f8", "<f16", "S10", "|f8", ">i4", "<U1", "<M8[ns]", "O", "",
                              "<", "f8", "<f8 ", " <f8", "<F8", "<b2"})
        EXPECT_FALSE(dtype_from_descr(descr).has_value()) << "'" << descr << "'";
}

// --- element_count, layout_for ----------------------------------------------------------------------

TEST(ElementCount, CountsAndDetectsOverflow) {
    EXPECT_EQ(element_count({}, 8), 1u);
    EXPECT_EQ(element_count({3, 4}, 8), 12u);
    EXPECT_EQ(element_count({2, 0, 7}, 8), 0u);
    EXPECT_EQ(element_count({size_max}, 1), size_max);
    EXPECT_EQ(element_count({std::size_t{1} << 32, std::size_t{1} << 31}, 1),
              std::size_t{1} << 63);
    // The element count overflows.
    EXPECT_FALSE(element_count({std::size_t{1} << 32, std::size_t{1} << 32}, 1).has_value());
    EXPECT_FALSE(element_count({size_max, 2}, 1).has_value());
    // The count fits, its bytes do not.
    EXPECT_FALSE(element_count({size_max}, 2).has_value());
    EXPECT_FALSE(element_count({std::size_t{1} << 32, std::size_t{1} << 31}, 2).has_value());
    EXPECT_FALSE(element_count({std::size_t{1} << 61}, 8).has_value());
    EXPECT_EQ(element_count({std::size_t{1} << 60}, 8), std::size_t{1} << 60);
    // numpy, too, refuses such shapes ("array is too big").
    EXPECT_FALSE(element_count({std::size_t{1} << 40, std::size_t{1} << 40, 0}, 8).has_value());
}

TEST(LayoutFor, PageAlignsDataAndTrailer) {
    const auto l = shmpool::detail::layout_for(dtype::float64, {3, 4});
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->data_offset, 4096u);
    EXPECT_EQ(l->data_bytes, 96u);
    EXPECT_EQ(l->trailer_offset, 8192u);
    EXPECT_EQ(l->total_bytes, 12288u);
    const auto empty = shmpool::detail::layout_for(dtype::int8, {0});
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->trailer_offset, 4096u);
    EXPECT_EQ(empty->total_bytes, 8192u);
    EXPECT_FALSE(shmpool::detail::layout_for(dtype::float64, {size_max / 8}).has_value());
    EXPECT_FALSE(shmpool::detail::layout_for(dtype::float64, {size_max}).has_value());
}

// --- describe_fd: the checks on top of the parser ---------------------------------------------------

class DescribeFd : public ::testing::Test {
protected:
    void SetUp() override {
        fd_ = ::memfd_create("test_npy_header", 0);
        ASSERT_GE(fd_, 0);
    }
    void TearDown() override {
        if (fd_ >= 0) ::close(fd_);
    }
    shmpool::detail::segment_description describe(const std::string& bytes) {
        EXPECT_EQ(::ftruncate(fd_, 0), 0);
        EXPECT_EQ(::pwrite(fd_, bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
        return shmpool::detail::describe_fd(fd_, "/tmp/x.npy", "array 'x'");
    }
    void expect_refused(const std::string& bytes, std::string_view fragment) {
        try {
            describe(bytes);
            ADD_FAILURE() << "accepted; expected '" << fragment << "'";
        } catch (const shmpool::format_error& e) {
            const std::string what = e.what();
            EXPECT_EQ(what.rfind("array 'x' is not a valid array: ", 0), 0u) << what;
            EXPECT_NE(what.find(fragment), std::string::npos) << what;
        }
    }
    int fd_ = -1;
};

TEST_F(DescribeFd, AcceptsANumpyFile) {
    const std::string h = numpy_style(dict_with_shape("(3, 4)"));
    const auto d = describe(h + std::string(96, '\0'));
    EXPECT_EQ(d.type, dtype::float64);
    EXPECT_EQ(d.count, 12u);
    EXPECT_EQ(d.data_bytes, 96u);
    EXPECT_EQ(d.header.data_offset, 128u);
    EXPECT_FALSE(d.trailer.has_value());
}

TEST_F(DescribeFd, RefusesWhatTheParserAccepts) {
    const std::string data(96, '\0');
    expect_refused(numpy_style(dict_with_shape("(3, 4)")) + std::string(95, '\0'), "truncated");
    expect_refused(numpy_style("{'descr': '>f8', 'fortran_order': False, 'shape': (3, 4), }") +
                       data,
                   "big-endian");
    expect_refused(numpy_style("{'descr': '<U3', 'fortran_order': False, 'shape': (3, 4), }") +
                       data,
                   "not one shmpool maps");
    expect_refused(numpy_style("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }") + data,
                   "Fortran order");
    expect_refused(numpy_style(dict_with_shape("()")) + data, "rank 0");
    expect_refused(numpy_style(dict_with_shape("(1, 1, 1, 1, 1, 1, 1, 1, 1)")) + data, "rank 9");
    expect_refused(numpy_style(dict_with_shape("(4294967296, 4294967296)")) + data, "overflows");
    expect_refused(raw_v1(dict_with_shape("(3, 4)") + "   \n") + data, "not aligned");
    expect_refused("not an array at all", "bad magic");
}

}  // namespace
