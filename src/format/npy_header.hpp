// Reading and writing .npy headers (format versions 1.0, 2.0 and 3.0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmpool::detail {

/// What a .npy header says.
struct npy_header {
    std::string descr;  // e.g. "<f8"
    bool fortran_order = false;
    std::vector<std::size_t> shape;  // empty for a 0-d array
    std::size_t data_offset = 0;     // where the data starts, from the start of the file
};

/// The outcome of parsing: a header, or why the bytes are not one.
struct npy_parse_result {
    std::optional<npy_header> header;
    std::string problem;  // set when header is empty: "bad magic", "truncated header", ...
};

/// Size of the header shmpool writes: one page, so that the data is page-aligned.
inline constexpr std::size_t npy_header_size = 4096;

/// Parses the start of a file. `bytes` may be shorter than the header (then: "truncated").
/// Never reads outside `bytes`, never throws for bad input.
npy_parse_result parse_npy_header(std::string_view bytes);

/// The npy_header_size bytes of a version 1.0 header for a C-order array. Throws
/// std::length_error if the dict does not fit (never for a dtype and a rank of at most 8).
std::string format_npy_header(std::string_view descr, const std::vector<std::size_t>& shape);

}  // namespace shmpool::detail
