// Limits shared by several layers of shmpool: how long a name or path a handle carries, the
// highest rank of an array.
#pragma once

#include <cstddef>

namespace shmpool::detail {

/// Longest name or path a handle can carry, in bytes.
inline constexpr std::size_t max_location_length = 1023;
/// Highest rank of an array.
inline constexpr std::size_t max_rank = 8;

}  // namespace shmpool::detail
