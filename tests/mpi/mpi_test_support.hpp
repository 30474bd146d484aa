// What the MPI tests share: the cluster that main() constructs first (mpi_test_main.cpp), names
// unique to a run, the simulated host a rank runs on.
#pragma once

#include <cstdlib>
#include <string>

#include "shmpool/mpi.hpp"

namespace shmpool::mpi::test {

/// The cluster of this test program (constructed first in main()).
cluster& the_cluster();

/// A name unique to this run, the same on every rank (from rank 0's PID).
std::string unique(const std::string& what);

/// The simulated host this rank runs on (scripts/mpi/host-agent sets SHMPOOL_SIMULATED_HOST).
inline std::string simulated_host() {
    const char* h = std::getenv("SHMPOOL_SIMULATED_HOST");
    return h ? h : "";
}

/// This rank's shm directory (SHMPOOL_SHM_DIR or /dev/shm).
inline std::string shm_dir() {
    const char* d = std::getenv("SHMPOOL_SHM_DIR");
    return d && *d ? d : "/dev/shm";
}

}  // namespace shmpool::mpi::test
