// shmpool::mpi::cluster: the ranks of an MPI job grouped by host, each with its own process
// pool forked before MPI starts; and the errors of the MPI module.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::mpi {

/// An MPI call failed on this rank (the message names the call and says what MPI said).
class SHMPOOL_API mpi_error : public error {
public:
    using error::error;
};

/// A collective call of the module failed on some rank: every rank of the job throws this
/// same error, naming the host, the rank and (for row tasks) the row where it happened, so no
/// rank is left waiting for the others. When several ranks failed, the lowest rank's error is
/// the one reported and failed_ranks() says how many failed.
class SHMPOOL_API cluster_error : public error {
public:
    cluster_error(const std::string& what, int host, int rank, std::optional<std::size_t> row,
                  std::string error_type, std::string error_what, int failed_ranks)
        : error(what),
          host_(host),
          rank_(rank),
          row_(row),
          type_(std::move(error_type)),
          inner_what_(std::move(error_what)),
          failed_ranks_(failed_ranks) {}

    /// The host (cluster::host()) of the rank that failed.
    int host() const noexcept { return host_; }
    /// The rank (in MPI_COMM_WORLD) that failed.
    int rank() const noexcept { return rank_; }
    /// The global row whose task threw, or the first row a dead worker did not complete;
    /// empty when the failure was not a row's (a creation, a bad argument).
    std::optional<std::size_t> row() const noexcept { return row_; }
    /// The type of the error on that rank, demangled ("shmpool::worker_error").
    const std::string& error_type() const noexcept { return type_; }
    /// Its what().
    const std::string& error_what() const noexcept { return inner_what_; }
    /// How many ranks failed in this call (1 or more).
    int failed_ranks() const noexcept { return failed_ranks_; }

private:
    int host_, rank_;
    std::optional<std::size_t> row_;
    std::string type_, inner_what_;
    int failed_ranks_;
};

/// Options of a cluster.
struct cluster_options {
    /// Workers of this rank's pool. 0: this host's CPUs divided among the ranks mpirun started
    /// on it (at least 1).
    std::size_t workers = 0;
    /// Keep the CPU binding mpirun gave this rank even when it holds fewer CPUs than the pool
    /// has workers. By default the rank's CPU set is then widened to every CPU of the host
    /// before the pool is forked (Open MPI 4.1's mpirun binds each rank of a job of 2 ranks or
    /// fewer to one core, and of larger jobs to a socket, unless run with `--bind-to none`;
    /// the workers would share those). A binding with enough CPUs
    /// (`--map-by ppr:1:node:pe=N`) is always kept.
    bool keep_binding = false;
    /// Remove, on each host, the blocks of distributed arrays that a dead job left there
    /// (non-persistent, creator no longer running) when the cluster starts; each host's
    /// first rank says on stderr what it removed.
    bool remove_stale_blocks = true;
    /// Options of each rank's pool.
    pool_options pool{};
};

/// The ranks of an MPI job, grouped by host, each rank with its own process_pool.
///
/// Construct it first in main(), from argc and argv, before any other thread starts: it forks
/// the rank's pool, then initialises MPI (MPI_Init starts threads, after which a pool may not
/// fork), then finds which ranks share a host (MPI_COMM_TYPE_SHARED, not host names, which
/// several hosts may share) and numbers the hosts 0 .. hosts() - 1 in the order of their
/// lowest rank. Tasks run in the pool's workers and must not call MPI. The destructor
/// finalises MPI (if the cluster initialised it), then stops the pool.
///
/// @code
/// int main(int argc, char** argv) {
///     shmpool::mpi::cluster c(argc, argv);  // mpirun --bind-to none -n 4 ./prog
///     auto grid = shmpool::mpi::row_array<double>::create(c, "grid", {100000, 1000});
///     shmpool::mpi::for_each_row(c, grid, [grid](std::size_t row) { grid.row(row).fill(1.0 * row); });
///     if (c.rank() == 0) std::printf("%d hosts\n", c.hosts());
/// }
/// @endcode
///
/// Throws error if MPI was initialised already (the pool could no longer fork safely) or this
/// process runs other threads, mpi_error if MPI cannot start. Not safe across fork: use it in
/// the process that constructed it.
class SHMPOOL_API cluster {
public:
    cluster(int& argc, char**& argv, const cluster_options& opts = {});
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    /// This rank in MPI_COMM_WORLD, and the number of ranks.
    int rank() const noexcept;
    int size() const noexcept;
    /// This rank's host, 0 .. hosts() - 1, and the number of hosts.
    int host() const noexcept;
    int hosts() const noexcept;
    /// This rank among the ranks of its host (0 is the host's leader), and their number.
    int rank_on_host() const noexcept;
    int ranks_on_host() const noexcept;
    /// The host's name as MPI reports it (MPI_Get_processor_name): for messages only.
    const std::string& host_name() const noexcept;
    /// This rank's pool.
    process_pool& pool() noexcept;
    /// Communicators of the module (duplicates: messages of your own never mix with the
    /// module's): every rank, and the ranks of this host.
    MPI_Comm comm() const noexcept;
    MPI_Comm host_comm() const noexcept;
    /// Waits until every rank got here.
    void barrier();
    /// Whether the rank's CPU binding was widened to the host's CPUs (see cluster_options).
    bool binding_widened() const noexcept;
    /// The blocks of a dead job this rank removed when the cluster started (host leaders only).
    const std::vector<std::string>& stale_blocks_removed() const noexcept;

private:
    struct state;
    std::unique_ptr<process_pool> pool_;
    std::unique_ptr<state> state_;
};

}  // namespace shmpool::mpi
