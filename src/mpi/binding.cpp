// The rank's CPU binding and its pool's size, decided before the pool is forked; the removal
// of the blocks a dead job left.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "mpi_support.hpp"
#include "shmpool/catalog.hpp"
#include "shmpool/error.hpp"
#include "shmpool/mpi/detail.hpp"

namespace shmpool::mpi::detail {
namespace {

// The ranks the launcher started on this host, from its environment (before MPI_Init): Open
// MPI's mpirun, then MPICH's Hydra; 1 when neither says (then pass cluster_options::workers).
std::size_t ranks_on_this_host() {
    for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}) {
        if (const char* v = std::getenv(var)) {
            const long n = std::strtol(v, nullptr, 10);
            if (n > 0) return static_cast<std::size_t>(n);
        }
    }
    return 1;
}

bool get_cpus(cpu_set_t& set) { return ::sched_getaffinity(0, sizeof set, &set) == 0; }

}  // namespace

binding_plan plan_binding(std::size_t workers, bool keep_binding) {
    binding_plan plan;
    cpu_set_t bound;
    if (!get_cpus(bound)) {
        plan.workers = workers ? workers : 1;
        return plan;
    }
    cpu_set_t all;  // every CPU: the kernel keeps those of the host (and its cpuset) that exist
    CPU_ZERO(&all);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &all);
    cpu_set_t host = bound;
    if (::sched_setaffinity(0, sizeof all, &all) == 0) get_cpus(host);
    const auto host_cpus = static_cast<std::size_t>(CPU_COUNT(&host));
    const auto bound_cpus = static_cast<std::size_t>(CPU_COUNT(&bound));
    plan.workers = workers ? workers : std::max<std::size_t>(1, host_cpus / ranks_on_this_host());
    plan.widened = !keep_binding && bound_cpus < plan.workers && host_cpus > bound_cpus;
    if (!plan.widened) ::sched_setaffinity(0, sizeof bound, &bound);  // as mpirun left it
    return plan;
}

std::vector<std::string> remove_stale_blocks() {
    std::vector<std::string> removed;
    for (const array_info& a : list_arrays()) {
        if (array_name_of_block(a.name) == a.name) continue;  // not a block
        if (!a.made_by_shmpool || a.persistent || a.creator_alive) continue;
        try {
            remove_array(a.name);
            removed.push_back(a.name);
        } catch (const error&) {  // removed meanwhile, or not ours: nothing to do
        }
    }
    return removed;
}

}  // namespace shmpool::mpi::detail
