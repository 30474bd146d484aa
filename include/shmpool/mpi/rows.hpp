// Row tasks over a distributed array: shmpool::mpi::for_each_row and shmpool::mpi::map, each
// row's task run on the host that holds the row, by the pools of that host's ranks.
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/detail.hpp"
#include "shmpool/mpi/row_array.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::mpi {

/// Calls fn(global_row) for every row of `a`, each on the host that holds the row: the host's
/// rows are split among its ranks, and each rank's pool runs its share in place. Collective:
/// every rank calls it, and it returns on every rank once every host is done, with the call
/// results of all ranks summed (completed: the rows run; workers_died; cancelled if any rank's
/// call was). `fn` is what process_pool::for_each takes: trivially copyable, capturing the
/// array handle by value; it must not call MPI.
///
/// Throws cluster_error on every rank when any rank failed: a task threw (its row, host and
/// rank are named), or workers died and their rows could not be run again (`opts.retries`).
///
/// @code
/// shmpool::mpi::for_each_row(c, grid, [grid](std::size_t r) { grid.row(r) *= 2.0; },
///                            {.retries = 1});
/// @endcode
template <class T, class F>
call_result for_each_row(cluster& c, const row_array<T>& a, F fn, const call_options& opts = {}) {
    const detail::row_span mine = detail::rows_of_rank(c, a.first_row(), a.last_row());
    call_result local;
    std::exception_ptr failure;
    try {
        local = c.pool().for_each(mine.begin, mine.end, fn, opts);
    } catch (...) {
        failure = std::current_exception();
    }
    return detail::agree_call(c, local, failure,
                              "for_each_row on row_array '" + std::string(a.name()) + "'");
}

/// Calls fn(global_row) for every row of `a` as for_each_row does and gathers the results on
/// rank 0, in row order: a vector of a.rows() results there, an empty vector on every other
/// rank. Results are what process_pool::map returns (numbers, trivially copyable structs, pairs
/// and tuples of those).
/// Throws as for_each_row.
template <class T, class F>
auto map(cluster& c, const row_array<T>& a, F fn, const call_options& opts = {}) {
    using result = std::invoke_result_t<F&, std::size_t>;
    using codec = shmpool::detail::result_codec<result>;
    static_assert(codec::ok,
                  "shmpool::mpi::map: results must be numbers, trivially copyable structs or "
                  "std::pair / std::tuple of those, as process_pool::map returns");
    using stored = typename codec::stored;
    const detail::row_span mine = detail::rows_of_rank(c, a.first_row(), a.last_row());
    std::vector<stored> local;
    std::exception_ptr failure;
    try {
        for (const auto& r : c.pool().map(mine.begin, mine.end, fn, opts))
            local.push_back(codec::encode(r));
    } catch (...) {
        failure = std::current_exception();
    }
    detail::agree(c, failure, "map on row_array '" + std::string(a.name()) + "'");
    std::vector<stored> gathered(c.rank() == 0 ? a.rows() : 0);
    detail::gather_at_offsets(c, local.data(), mine.begin * sizeof(stored),
                              local.size() * sizeof(stored), gathered.data());
    std::vector<result> all;
    all.reserve(gathered.size());
    for (const stored& s : gathered) all.push_back(codec::decode(s));
    return all;
}

}  // namespace shmpool::mpi
