// What a segment holds, as its trailer records it: the kind of object (an array, a shared
// object, a value...) and, for objects and values, the C++ type it was created for, by a name
// that reads well in `shmpool ls` and in error messages and that two compilers agree on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "shmpool/detail/export.hpp"
#include "shmpool/dtype.hpp"

namespace shmpool::detail {

/// The kinds of segment shmpool creates. Stored in the trailer: never renumber.
enum class segment_kind : std::uint32_t {
    array = 0,        ///< shared_array<T>, or a .npy file numpy wrote
    object = 1,       ///< shared_object<T>
    value = 2,        ///< value<T>: a T with its robust_mutex
    raw_value = 3,    ///< raw_value<T>
    value_array = 4,  ///< value_array<T>
    raw_array = 5,    ///< raw_array<T>
    frozen = 6,       ///< frozen: a store of columns (frozen.hpp)
    heap = 7,         ///< managed_heap: Boost.Interprocess containers (managed_heap.hpp)
};

/// "array", "object", "value", "raw_value", "value_array", "raw_array", "frozen", "heap".
SHMPOOL_API std::string_view kind_name(segment_kind k) noexcept;

inline constexpr std::size_t max_type_name = 179;

/// The kind and C++ type a segment was created for. Trivially copyable: it lives in the trailer.
struct segment_identity {
    segment_kind kind = segment_kind::array;
    std::uint32_t type_size = 0;             ///< sizeof the type (0 for arrays)
    std::uint32_t payload_offset = 0;        ///< where the (first) T starts in the data
    char type_name[max_type_name + 1] = {};  ///< "int64", "shmpool::robust_mutex", "app::config"

    std::string_view type() const noexcept { return {type_name, std::strlen(type_name)}; }
    friend bool operator==(const segment_identity& a, const segment_identity& b) noexcept {
        return a.kind == b.kind && a.type_size == b.type_size &&
               a.payload_offset == b.payload_offset && a.type() == b.type();
    }
};

/// The compiler's spelling of T ("app::config", "shmpool::robust_mutex"), from the name of this
/// function as GCC and Clang print it.
template <class T>
constexpr std::string_view compiler_type_name() noexcept {
    std::string_view f = __PRETTY_FUNCTION__;
#if defined(__clang__)
    constexpr std::string_view open = "[T = ", close = "]";
#else
    constexpr std::string_view open = "[with T = ", close = ";";
#endif
    const std::size_t at = f.find(open);
    if (at == std::string_view::npos) return "?";
    f.remove_prefix(at + open.size());
    return f.substr(0, f.find_first_of(close == ";" ? ";]" : "]"));
}

/// A name of T that reads well and that GCC and Clang agree on: numpy's names for numbers
/// ("int64" for long and long long alike, "float64", "bool"), else the compiler's spelling.
template <class T>
constexpr std::string_view readable_type_name() noexcept {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
        return "bool";
    } else if constexpr (std::is_integral_v<U>) {
        constexpr std::string_view signed_names[] = {"int8", "int16", "", "int32",
                                                     "",     "",      "", "int64"};
        constexpr std::string_view unsigned_names[] = {"uint8", "uint16", "", "uint32",
                                                       "",      "",       "", "uint64"};
        return std::is_signed_v<U> ? signed_names[sizeof(U) - 1] : unsigned_names[sizeof(U) - 1];
    } else if constexpr (std::is_same_v<U, float>) {
        return "float32";
    } else if constexpr (std::is_same_v<U, double>) {
        return "float64";
    } else {
        return compiler_type_name<U>();
    }
}

/// The identity of a segment of `kind` created for T, the first T `payload_offset` bytes into
/// the data.
template <class T>
segment_identity identity_of(segment_kind kind, std::size_t payload_offset = 0) noexcept {
    segment_identity id;
    id.kind = kind;
    id.type_size = static_cast<std::uint32_t>(sizeof(T));
    id.payload_offset = static_cast<std::uint32_t>(payload_offset);
    const std::string_view name = readable_type_name<T>();
    std::memcpy(id.type_name, name.data(),
                name.size() < max_type_name ? name.size() : max_type_name);
    return id;
}

/// The identity of an array (what segments without a recorded identity are).
inline segment_identity array_identity() noexcept { return {}; }

}  // namespace shmpool::detail
