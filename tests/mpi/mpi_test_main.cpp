// main() of the MPI test programs: the cluster first (it forks the pool, then starts MPI),
// then GoogleTest; ranks other than 0 print only their failures (--gtest_brief).
#include <gtest/gtest.h>
#include <unistd.h>

#include "mpi_test_support.hpp"

namespace shmpool::mpi::test {
namespace {
cluster* current = nullptr;
}

cluster& the_cluster() { return *current; }

std::string unique(const std::string& what) {
    static const long pid =
        reduce(the_cluster(), the_cluster().rank() == 0 ? static_cast<long>(::getpid()) : 0L);
    return "shmpool-mpi-test-" + std::to_string(pid) + "-" + what;
}

}  // namespace shmpool::mpi::test

int main(int argc, char** argv) {
    shmpool::mpi::cluster c(argc, argv, {.workers = 2});
    shmpool::mpi::test::current = &c;
    if (c.rank() != 0) GTEST_FLAG_SET(brief, true);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
