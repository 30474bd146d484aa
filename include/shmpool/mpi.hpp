// shmpool::mpi: the same named shared arrays and row tasks across the hosts of an MPI job.
// Each host holds its block of rows in a named shared array of its own, each rank's
// process_pool works on it in place, and MPI only groups the ranks by host and carries the
// collectives. Link the CMake target shmpool::mpi (built when MPI is found: SHMPOOL_WITH_MPI).
//
// @code
// #include <shmpool/mpi.hpp>
// #include <xtensor/xmath.hpp>
//
// int main(int argc, char** argv) {
//     shmpool::mpi::cluster c(argc, argv);  // first: forks this rank's pool, then starts MPI
//     auto grid = shmpool::mpi::row_array<double>::create(c, "grid", {100000, 1000});
//     shmpool::mpi::for_each_row(c, grid, [grid](std::size_t r) { grid.row(r).fill(1.0 * r); });
//     auto sums = shmpool::mpi::map(c, grid, [grid](std::size_t r) { return xt::sum(grid.row(r))(); });
//     if (c.rank() == 0) std::printf("%zu row sums on rank 0\n", sums.size());
// }
// @endcode
//
// Run with `mpirun --bind-to none -n RANKS ./prog` (see README, "Several hosts (MPI)").
// Headers: mpi/cluster.hpp (the cluster, its errors), mpi/row_array.hpp (distributed arrays),
// mpi/rows.hpp (for_each_row, map), mpi/collectives.hpp (gather, reduce).
#pragma once

#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/collectives.hpp"
#include "shmpool/mpi/row_array.hpp"
#include "shmpool/mpi/rows.hpp"
