// A small MPI program the kill test (tests/mpi/kill_rank.py) runs under simulated hosts:
//   mpi_peer kill-rank R NAME   creates the distributed array NAME, fills it, then rank R
//                               prints "killing rank R at NS" (CLOCK_REALTIME) and SIGKILLs
//                               itself while the other ranks wait in a barrier;
//   mpi_peer start              starts a cluster (which removes a dead job's blocks) and ends;
//   mpi_peer binding            with a pool of 2 workers: checks that a rank bound to fewer
//                               CPUs (mpirun --bind-to core) was widened to the host's CPUs,
//                               and that its workers run on them; exit 1 otherwise.
#include <sched.h>
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

int cpus_of(pid_t pid) {
    cpu_set_t set;
    return ::sched_getaffinity(pid, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

// Run with --bind-to core: each rank starts on one CPU, fewer than its 2 workers.
int binding(shmpool::mpi::cluster& c, int cpus_at_start) {
    const int now = cpus_of(0);
    int bad = 0;
    std::printf("rank %d: %d CPU(s) at start, %d now, widened %s; workers on", c.rank(),
                cpus_at_start, now, c.binding_widened() ? "yes" : "no");
    for (int pid : c.pool().worker_pids()) {
        std::printf(" %d", cpus_of(pid));
        if (cpus_of(pid) != now) bad = 1;
    }
    std::printf(" CPU(s)\n");
    if (cpus_at_start < 2 && now > cpus_at_start && !c.binding_widened()) bad = 1;
    if (cpus_at_start < 2 && now == cpus_at_start) bad = 1;  // not widened: the test proves nothing
    return shmpool::mpi::reduce(c, bad);
}

}  // namespace

int main(int argc, char** argv) {
    const bool binding_mode = argc == 2 && std::strcmp(argv[1], "binding") == 0;
    const int cpus_at_start = cpus_of(0);
    shmpool::mpi::cluster c(argc, argv, {.workers = binding_mode ? 2u : 1u});
    if (binding_mode) return binding(c, cpus_at_start) == 0 ? 0 : 1;
    if (argc == 4 && std::strcmp(argv[1], "kill-rank") == 0)
        return kill_rank(c, std::atoi(argv[2]), argv[3]);
    if (argc == 2 && std::strcmp(argv[1], "start") == 0) {
        if (c.rank() == 0) std::printf("started %d hosts\n", c.hosts());
        return 0;
    }
    if (c.rank() == 0) std::fprintf(stderr, "usage: mpi_peer kill-rank R NAME | start\n");
    return 2;
}
