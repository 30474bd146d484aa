#include "shmpool/dtype.hpp"

#include <gtest/gtest.h>

#include <complex>
#include <cstdint>

namespace shmpool {
namespace {

TEST(dtype, cpp_types_map_to_numpy_dtypes) {
    static_assert(dtype_of<bool> == dtype::bool_);
    static_assert(dtype_of<std::int8_t> == dtype::int8);
    static_assert(dtype_of<std::int16_t> == dtype::int16);
    static_assert(dtype_of<std::int32_t> == dtype::int32);
    static_assert(dtype_of<std::int64_t> == dtype::int64);
    static_assert(dtype_of<long long> == dtype::int64);
    static_assert(dtype_of<std::uint8_t> == dtype::uint8);
    static_assert(dtype_of<std::uint16_t> == dtype::uint16);
    static_assert(dtype_of<std::uint32_t> == dtype::uint32);
    static_assert(dtype_of<std::uint64_t> == dtype::uint64);
    static_assert(dtype_of<float> == dtype::float32);
    static_assert(dtype_of<double> == dtype::float64);
    static_assert(dtype_of<std::complex<float>> == dtype::complex64);
    static_assert(dtype_of<std::complex<double>> == dtype::complex128);
    SUCCEED();
}

TEST(dtype, descrs_names_and_sizes_are_numpys) {
    EXPECT_EQ(npy_descr(dtype::float64), "<f8");
    EXPECT_EQ(npy_descr(dtype::bool_), "|b1");
    EXPECT_EQ(npy_descr(dtype::int8), "|i1");
    EXPECT_EQ(npy_descr(dtype::uint16), "<u2");
    EXPECT_EQ(npy_descr(dtype::complex128), "<c16");
    EXPECT_EQ(dtype_name(dtype::float32), "float32");
    EXPECT_EQ(dtype_name(dtype::bool_), "bool");
    EXPECT_EQ(dtype_size(dtype::int64), 8u);
    EXPECT_EQ(dtype_size(dtype::complex64), 8u);
    EXPECT_EQ(dtype_size(dtype::bool_), 1u);
}

TEST(dtype, sizes_match_the_cpp_types) {
    EXPECT_EQ(dtype_size(dtype_of<std::int16_t>), sizeof(std::int16_t));
    EXPECT_EQ(dtype_size(dtype_of<float>), sizeof(float));
    EXPECT_EQ(dtype_size(dtype_of<std::complex<double>>), sizeof(std::complex<double>));
}

}  // namespace
}  // namespace shmpool
