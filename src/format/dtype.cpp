#include "shmpool/dtype.hpp"

namespace shmpool {
namespace {

struct dtype_row {
    std::string_view descr;
    std::string_view name;
    std::size_t size;
};

// Indexed by the enum's value.
constexpr dtype_row rows[] = {
    {"|b1", "bool", 1},         {"|i1", "int8", 1},    {"<i2", "int16", 2},
    {"<i4", "int32", 4},        {"<i8", "int64", 8},   {"|u1", "uint8", 1},
    {"<u2", "uint16", 2},       {"<u4", "uint32", 4},  {"<u8", "uint64", 8},
    {"<f4", "float32", 4},      {"<f8", "float64", 8}, {"<c8", "complex64", 8},
    {"<c16", "complex128", 16},
};

const dtype_row& row(dtype t) noexcept { return rows[static_cast<std::size_t>(t)]; }

}  // namespace

std::string_view npy_descr(dtype t) noexcept { return row(t).descr; }
std::string_view dtype_name(dtype t) noexcept { return row(t).name; }
std::size_t dtype_size(dtype t) noexcept { return row(t).size; }

}  // namespace shmpool
