// Element types of shared arrays and their numpy names (the `descr` of a .npy header).
#pragma once

#include <complex>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "shmpool/detail/export.hpp"

namespace shmpool {

/// The element types a shared array can hold, as numpy knows them.
enum class dtype : std::uint8_t {
    bool_,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
    uint32,
    uint64,
    float32,
    float64,
    complex64,
    complex128,
};

/// numpy's little-endian descr of a dtype: "<f8", "|b1", "<i4"...
SHMPOOL_API std::string_view npy_descr(dtype t) noexcept;

/// A readable name: "float64", "int32", "bool"...
SHMPOOL_API std::string_view dtype_name(dtype t) noexcept;

/// Size in bytes of one element.
SHMPOOL_API std::size_t dtype_size(dtype t) noexcept;

namespace detail {

template <class T>
struct dependent_false : std::false_type {};

template <class T>
constexpr dtype dtype_of_impl() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
        return dtype::bool_;
    } else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
        if constexpr (sizeof(U) == 1)
            return dtype::int8;
        else if constexpr (sizeof(U) == 2)
            return dtype::int16;
        else if constexpr (sizeof(U) == 4)
            return dtype::int32;
        else if constexpr (sizeof(U) == 8)
            return dtype::int64;
        else
            static_assert(dependent_false<T>::value, "shmpool: integer width not supported");
    } else if constexpr (std::is_integral_v<U>) {
        if constexpr (sizeof(U) == 1)
            return dtype::uint8;
        else if constexpr (sizeof(U) == 2)
            return dtype::uint16;
        else if constexpr (sizeof(U) == 4)
            return dtype::uint32;
        else if constexpr (sizeof(U) == 8)
            return dtype::uint64;
        else
            static_assert(dependent_false<T>::value, "shmpool: integer width not supported");
    } else if constexpr (std::is_same_v<U, float>) {
        return dtype::float32;
    } else if constexpr (std::is_same_v<U, double>) {
        return dtype::float64;
    } else if constexpr (std::is_same_v<U, std::complex<float>>) {
        return dtype::complex64;
    } else if constexpr (std::is_same_v<U, std::complex<double>>) {
        return dtype::complex128;
    } else {
        static_assert(dependent_false<T>::value,
                      "shmpool: this element type has no numpy dtype; use bool, int8..int64, "
                      "uint8..uint64, float, double, std::complex<float> or "
                      "std::complex<double>");
    }
}

}  // namespace detail

/// The dtype of C++ type T; a compile-time error for types numpy cannot describe.
template <class T>
inline constexpr dtype dtype_of = detail::dtype_of_impl<T>();

}  // namespace shmpool
