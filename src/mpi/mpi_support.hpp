// Private helpers of the MPI module: MPI return codes turned into mpi_error, the CPU binding
// plan made before the pool is forked, and the removal of a dead job's blocks.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <string>
#include <vector>

namespace shmpool::mpi::detail {

/// Throws mpi_error naming `call` when rc is not MPI_SUCCESS (MPI_ERRORS_RETURN is set on the
/// module's communicators).
void check(int rc, const char* call);

/// Waits for `request` mostly asleep rather than spinning in MPI_Wait: a rank waiting for the
/// other hosts leaves its core to the workers (ranks and workers together outnumber the cores).
void wait_without_spinning(MPI_Request& request);

/// What the cluster does about mpirun's binding before it forks the pool.
struct binding_plan {
    std::size_t workers = 1;  // the pool's workers
    bool widened = false;     // the CPU set was widened to every CPU of the host
};
/// Decides (and applies) the binding: see cluster_options::workers and keep_binding.
binding_plan plan_binding(std::size_t workers, bool keep_binding);

/// Removes the blocks of distributed arrays in this host's shm directory whose creator is no
/// longer running (non-persistent ones); returns their names.
std::vector<std::string> remove_stale_blocks();

}  // namespace shmpool::mpi::detail
