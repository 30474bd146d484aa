// Internals of the MPI module that its templates call: agreement on an outcome, the split of
// rows, the creation of blocks, and byte-level gathers. Not a public API.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/call_handle.hpp"
#include "shmpool/detail/export.hpp"

namespace shmpool::mpi {
class cluster;
}

namespace shmpool::mpi::detail {

/// Every rank calls this with its own outcome (null: success). If any rank failed, every rank
/// throws the same cluster_error (the lowest failing rank's, described by `call`).
SHMPOOL_API void agree(cluster& c, const std::exception_ptr& local, const std::string& call);

/// agree(), then the call results of every rank summed (completed, workers_died; cancelled if
/// any was; rerun lists this rank's own).
SHMPOOL_API call_result agree_call(cluster& c, const call_result& local,
                                   const std::exception_ptr& failure, const std::string& call);

/// Rows [begin, end).
struct row_span {
    std::size_t begin = 0, end = 0;
};

/// This rank's share of its host's rows [first, last): contiguous, split evenly among the
/// host's ranks in the order of rank_on_host().
SHMPOOL_API row_span rows_of_rank(const cluster& c, std::size_t first, std::size_t last);

/// The rows of this host in a distributed array of `rows` rows: `split` (one count per host,
/// summing to rows) or an even split. Throws invalid_argument_error naming `what` for a
/// split that does not fit (every rank sees the same arguments, so every rank throws).
SHMPOOL_API row_span host_rows(const cluster& c, std::size_t rows,
                               const std::vector<std::size_t>& split, const std::string& what);

/// The name of host `host`'s block of the distributed array `name`: "NAME@hostHofN".
SHMPOOL_API std::string block_name(std::string_view name, int host, int hosts);
/// The distributed array's name from a block's name (the inverse; the text as is otherwise).
SHMPOOL_API std::string_view array_name_of_block(std::string_view block);

/// Throws, on every rank, when the ranks did not all pass the same `description` (a name, a
/// shape, a type) to the collective call `what`.
SHMPOOL_API void check_same_everywhere(cluster& c, const std::string& description,
                                       const std::string& what);

/// Creates one block per host, atomically: the host's leader runs `create`, then the host's
/// other ranks run `open`; if anything failed on any rank, the leaders that created theirs run
/// `remove` and every rank throws cluster_error.
SHMPOOL_API void create_blocks(cluster& c, const std::string& what,
                               const std::function<void()>& create,
                               const std::function<void()>& open,
                               const std::function<void()>& remove);

/// Rank 0 receives each rank's `bytes` bytes at `offset` of `out` (which must hold them all);
/// other ranks' `out` is not used. Collective.
SHMPOOL_API void gather_at_offsets(cluster& c, const void* data, std::size_t offset,
                                   std::size_t bytes, void* out);

/// Rank 0 receives every rank's bytes (any length each), in rank order; other ranks an empty
/// list. Collective.
SHMPOOL_API std::vector<std::vector<std::byte>> gather_bytes(cluster& c, const void* data,
                                                             std::size_t bytes);

/// Rank 0's `bytes` bytes, copied to every rank. Collective.
SHMPOOL_API void broadcast_bytes(cluster& c, void* data, std::size_t bytes);

}  // namespace shmpool::mpi::detail
