// shmpool::mpi::cluster: the pool forked first, then MPI, then the ranks grouped by host.
#include "shmpool/mpi/cluster.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "mpi_support.hpp"

namespace shmpool::mpi {

struct cluster::state {
    int rank = 0, size = 1, host = 0, hosts = 1, node_rank = 0, node_size = 1;
    std::string host_name;
    MPI_Comm world = MPI_COMM_NULL, node = MPI_COMM_NULL;
    bool widened = false;
    std::vector<std::string> stale;
};

namespace detail {

void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = {};
    int length = 0;
    MPI_Error_string(rc, text, &length);
    throw mpi_error(std::string("shmpool::mpi: ") + call + " failed: " + std::string(text, length));
}

// Waits for `request` mostly asleep: a rank whose share is done waits for the other hosts,
// and MPI_Wait would spin on a core that the workers need. It tests without pause for 2 ms
// (a collective's steps progress only while its ranks test; short calls end here), then sleeps
// between tests, 50 us at first, up to 250 us.
void wait_without_spinning(MPI_Request& request) {
    using clock = std::chrono::steady_clock;
    int done = 0;
    const auto spin_until = clock::now() + std::chrono::milliseconds(2);
    while (!done && clock::now() < spin_until)
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    auto pause = std::chrono::microseconds(50);
    while (!done) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(250));
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    }
}

}  // namespace detail

namespace {

void start_mpi(int& argc, char**& argv) {
    int provided = 0;  // only the thread that made the cluster calls MPI
    const int rc = MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        throw mpi_error("shmpool::mpi::cluster: MPI_Init_thread failed (error " +
                        std::to_string(rc) + "); run the program with mpirun");
}

// Numbers the hosts: one leader per host (its first rank), the leaders ranked among themselves.
void find_hosts(MPI_Comm world, MPI_Comm node, int& host, int& hosts) {
    int node_rank = 0;
    detail::check(MPI_Comm_rank(node, &node_rank), "MPI_Comm_rank");
    int world_rank = 0;
    detail::check(MPI_Comm_rank(world, &world_rank), "MPI_Comm_rank");
    MPI_Comm leaders = MPI_COMM_NULL;
    detail::check(MPI_Comm_split(world, node_rank == 0 ? 0 : MPI_UNDEFINED, world_rank, &leaders),
                  "MPI_Comm_split (host leaders)");
    int numbers[2] = {0, 1};
    if (leaders != MPI_COMM_NULL) {
        detail::check(MPI_Comm_rank(leaders, &numbers[0]), "MPI_Comm_rank");
        detail::check(MPI_Comm_size(leaders, &numbers[1]), "MPI_Comm_size");
        MPI_Comm_free(&leaders);
    }
    detail::check(MPI_Bcast(numbers, 2, MPI_INT, 0, node), "MPI_Bcast (host number)");
    host = numbers[0];
    hosts = numbers[1];
}

}  // namespace

cluster::cluster(int& argc, char**& argv, const cluster_options& opts)
    : state_(std::make_unique<state>()) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised)
        throw error("shmpool::mpi::cluster: MPI is initialised already; construct the cluster "
                    "first in main(), before MPI_Init: it forks the pool, which MPI's threads "
                    "would make unsafe");
    const detail::binding_plan plan = detail::plan_binding(opts.workers, opts.keep_binding);
    state_->widened = plan.widened;
    pool_ = std::make_unique<process_pool>(plan.workers, opts.pool);
    start_mpi(argc, argv);
    state& s = *state_;
    MPI_Comm_dup(MPI_COMM_WORLD, &s.world);
    MPI_Comm_set_errhandler(s.world, MPI_ERRORS_RETURN);
    detail::check(MPI_Comm_rank(s.world, &s.rank), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(s.world, &s.size), "MPI_Comm_size");
    detail::check(MPI_Comm_split_type(s.world, MPI_COMM_TYPE_SHARED, s.rank, MPI_INFO_NULL, &s.node),
                  "MPI_Comm_split_type (the ranks of each host)");
    MPI_Comm_set_errhandler(s.node, MPI_ERRORS_RETURN);
    detail::check(MPI_Comm_rank(s.node, &s.node_rank), "MPI_Comm_rank");
    detail::check(MPI_Comm_size(s.node, &s.node_size), "MPI_Comm_size");
    find_hosts(s.world, s.node, s.host, s.hosts);
    char name[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(name, &length);
    s.host_name.assign(name, static_cast<std::size_t>(length));
    if (opts.remove_stale_blocks && s.node_rank == 0) {
        s.stale = detail::remove_stale_blocks();
        if (!s.stale.empty()) {
            std::string list;
            for (const std::string& n : s.stale) list += (list.empty() ? "" : ", ") + n;
            std::fprintf(stderr, "[shmpool] host %d (%s): removed %zu block(s) a dead job left: %s\n",
                         s.host, s.host_name.c_str(), s.stale.size(), list.c_str());
        }
    }
    detail::check(MPI_Barrier(s.world), "MPI_Barrier");
}

cluster::~cluster() {
    if (state_->node != MPI_COMM_NULL) MPI_Comm_free(&state_->node);
    if (state_->world != MPI_COMM_NULL) MPI_Comm_free(&state_->world);
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();  // a constructed cluster initialised MPI
}  // then the pool stops (it keeps working after MPI_Finalize)

int cluster::rank() const noexcept { return state_->rank; }
int cluster::size() const noexcept { return state_->size; }
int cluster::host() const noexcept { return state_->host; }
int cluster::hosts() const noexcept { return state_->hosts; }
int cluster::rank_on_host() const noexcept { return state_->node_rank; }
int cluster::ranks_on_host() const noexcept { return state_->node_size; }
const std::string& cluster::host_name() const noexcept { return state_->host_name; }
process_pool& cluster::pool() noexcept { return *pool_; }
MPI_Comm cluster::comm() const noexcept { return state_->world; }
MPI_Comm cluster::host_comm() const noexcept { return state_->node; }
bool cluster::binding_widened() const noexcept { return state_->widened; }
const std::vector<std::string>& cluster::stale_blocks_removed() const noexcept {
    return state_->stale;
}

void cluster::barrier() {
    MPI_Request request = MPI_REQUEST_NULL;
    detail::check(MPI_Ibarrier(state_->world, &request), "MPI_Ibarrier");
    detail::wait_without_spinning(request);
}

}  // namespace shmpool::mpi
