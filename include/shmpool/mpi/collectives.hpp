// Collectives to rank 0 over a cluster: shmpool::mpi::gather (a distributed array, one value
// per rank, a vector per rank) and shmpool::mpi::reduce.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/detail.hpp"
#include "shmpool/mpi/row_array.hpp"

namespace shmpool::mpi {

/// The whole distributed array, copied to rank 0 in row order: an xt::xarray of a.shape()
/// there, an empty one (shape (0)) on every other rank. Each rank sends its share of its host's
/// rows (the share for_each_row runs). Collective. Rank 0 needs the memory of the whole array.
template <class T>
xt::xarray<T> gather(cluster& c, const row_array<T>& a) {
    const detail::row_span mine = detail::rows_of_rank(c, a.first_row(), a.last_row());
    const auto shape = a.shape();
    std::size_t row_elements = 1;
    for (std::size_t k = 1; k < shape.size(); ++k) row_elements *= shape[k];
    xt::xarray<T> all = c.rank() == 0 ? xt::xarray<T>::from_shape(shape)
                                      : xt::xarray<T>::from_shape({0});
    const T* from = a.block().view().data() + (mine.begin - a.first_row()) * row_elements;
    detail::gather_at_offsets(c, from, mine.begin * row_elements * sizeof(T),
                              (mine.end - mine.begin) * row_elements * sizeof(T), all.data());
    return all;
}

/// One value from every rank, on rank 0 in rank order (an empty vector on the others).
/// T is trivially copyable. Collective.
/// @code
/// auto pids = shmpool::mpi::gather(c, static_cast<long>(getpid()));  // rank 0: size() PIDs
/// @endcode
template <class T, class = std::enable_if_t<std::is_trivially_copyable_v<T>>>
std::vector<T> gather(cluster& c, const T& value) {
    std::vector<T> out;
    for (const auto& bytes : detail::gather_bytes(c, &value, sizeof(T))) {
        T v;
        std::memcpy(&v, bytes.data(), sizeof(T));
        out.push_back(v);
    }
    return out;
}

/// A vector from every rank (of any length each), on rank 0 in rank order (an empty vector
/// on the others). T is trivially copyable. Collective.
template <class T>
std::vector<std::vector<T>> gather(cluster& c, const std::vector<T>& values) {
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::mpi::gather: elements must be trivially copyable");
    std::vector<std::vector<T>> out;
    for (const auto& bytes : detail::gather_bytes(c, values.data(), values.size() * sizeof(T))) {
        std::vector<T> v(bytes.size() / sizeof(T));
        if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
        out.push_back(std::move(v));
    }
    return out;
}

/// Combines every rank's value with `op` (in rank order: op(op(v0, v1), v2)...) on rank 0,
/// and returns the result on every rank (rank 0 sends it back: one more small message).
/// T is trivially copyable; op any binary function (std::plus<>, a lambda). Collective.
/// @code
/// double total = shmpool::mpi::reduce(c, local_sum);                 // sum
/// long worst = shmpool::mpi::reduce(c, local_max, [](long a, long b) { return std::max(a, b); });
/// @endcode
template <class T, class Op = std::plus<>>
T reduce(cluster& c, const T& value, Op op = {}) {
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::mpi::reduce: the value must be trivially copyable");
    T result = value;
    const std::vector<T> all = gather(c, value);
    if (!all.empty()) {
        result = all.front();
        for (std::size_t k = 1; k < all.size(); ++k) result = op(result, all[k]);
    }
    detail::broadcast_bytes(c, &result, sizeof(T));
    return result;
}

}  // namespace shmpool::mpi
