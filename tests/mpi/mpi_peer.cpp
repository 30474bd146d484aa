// A small MPI program the kill test (tests/mpi/kill_rank.py) runs under simulated hosts:
//   mpi_peer kill-rank R NAME   creates the distributed array NAME, fills it, then rank R
//                               prints "killing rank R at NS" (CLOCK_REALTIME) and SIGKILLs
//                               itself while the other ranks wait in a barrier;
//   mpi_peer start              starts a cluster (which removes a dead job's blocks) and ends.
#include <signal.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shmpool/mpi.hpp"

namespace {

long long realtime_ns() {
    timespec t{};
    ::clock_gettime(CLOCK_REALTIME, &t);
    return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec;
}

int kill_rank(shmpool::mpi::cluster& c, int victim, const char* name) {
    auto a = shmpool::mpi::row_array<double>::create(c, name, {1000, 64});
    shmpool::mpi::for_each_row(c, a, [a](std::size_t r) { a.row(r).fill(1.0); });
    c.barrier();
    if (c.rank() == victim) {
        std::printf("killing rank %d at %lld\n", victim, realtime_ns());
        std::fflush(stdout);
        ::raise(SIGKILL);
    }
    c.barrier();  // never passes: the job ends
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    shmpool::mpi::cluster c(argc, argv, {.workers = 1});
    if (argc == 4 && std::strcmp(argv[1], "kill-rank") == 0)
        return kill_rank(c, std::atoi(argv[2]), argv[3]);
    if (argc == 2 && std::strcmp(argv[1], "start") == 0) {
        if (c.rank() == 0) std::printf("started %d hosts\n", c.hosts());
        return 0;
    }
    if (c.rank() == 0) std::fprintf(stderr, "usage: mpi_peer kill-rank R NAME | start\n");
    return 2;
}
