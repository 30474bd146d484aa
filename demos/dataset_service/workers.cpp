// demos/dataset_service: the workers (workers.hpp). A worker answers one request per
// connection (serve) in a loop (worker_main); worker_group forks them, waits for them to attach
// and stops them.
#include "workers.hpp"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <exception>
#include <shared_mutex>
#include <shmpool/process.hpp>
#include <stdexcept>
#include <thread>

#include "kernels.hpp"

namespace dataset_service {
namespace {

/// Why a request cannot be answered, or "" when it can.
std::string request_problem(const request_header& req, std::size_t rows, std::size_t dim) {
    if (req.magic != request_magic) return "not a request (bad magic number)";
    if (req.dim != dim)
        return "queries have " + std::to_string(req.dim) + " values; the matrix rows have " +
               std::to_string(dim);
    if (req.queries == 0 || req.queries > max_batch)
        return "a batch holds 1 to " + std::to_string(max_batch) + " queries";
    if (req.k == 0 || req.k > max_k || req.k > rows)
        return "k must be 1 to " + std::to_string(std::min(max_k, rows));
    return {};
}

/// Answers the request on connection `fd`: scans the matrix under the shared lock and sends the
/// hits, or refuses a request it cannot trust with a message.
void serve(int fd, std::uint32_t index, const shmpool::shared_array<float>& matrix,
           shmpool::shared_rwlock& lock, const shmpool::raw_array<std::uint64_t>& stats,
           std::vector<float>& queries, std::vector<hit>& hits) {
    request_header req;
    if (!recv_all(fd, &req, sizeof req)) return;
    const std::size_t rows = matrix.shape()[0], dim = matrix.shape()[1];
    reply_header rep;
    rep.worker = index;
    const std::string problem = request_problem(req, rows, dim);
    if (!problem.empty()) {  // the payload cannot be trusted: answer and drop the connection
        rep.status = 1;
        rep.message_bytes = static_cast<std::uint32_t>(problem.size());
        send_all(fd, &rep, sizeof rep);
        send_all(fd, problem.data(), problem.size());
        return;
    }
    const std::size_t m = req.queries, k = req.k;
    queries.resize(m * dim);
    if (!recv_all(fd, queries.data(), queries.size() * sizeof(float)))
        throw std::runtime_error("request without its queries");
    hits.resize(m * k);
    std::vector<float> floor(m);
    std::vector<std::size_t> count(m);

    const auto asked = clock_type::now();
    std::shared_lock reading(lock);  // a writer waiting or writing makes us wait here
    const auto got = clock_type::now();
    scan_top_k(matrix.data(), rows, dim, queries.data(), m, k, hits.data(), floor.data(),
               count.data());
    reading.unlock();
    const auto done = clock_type::now();

    // Counted before the reply leaves, so that a client holding every reply sees every count.
    stats[index * fields + served_requests].fetch_add(1);

    rep.queries = static_cast<std::uint32_t>(m);
    rep.k = static_cast<std::uint32_t>(k);
    rep.lock_wait_seconds = std::chrono::duration<double>(got - asked).count();
    rep.scan_seconds = std::chrono::duration<double>(done - got).count();
    send_all(fd, &rep, sizeof rep);
    send_all(fd, hits.data(), hits.size() * sizeof(hit));
}

/// Attaches to the shared objects by name, then accepts and serves until the master shuts the
/// listening socket down. Throws when the lock or the matrix is broken.
void accept_loop(std::uint32_t index, int listen_fd, const names& n) {
    // Attach by name, as a worker started any other way would. (The mapping inherited through
    // fork is the same segment, so open() checks the name and reuses it: nothing is mapped
    // twice, nothing is copied.)
    const auto matrix = shmpool::shared_array<float>::open(n.matrix);
    const auto rwlock = shmpool::shared_object<shmpool::shared_rwlock>::open(n.lock);
    const auto stats = shmpool::raw_array<std::uint64_t>::open(n.stats);
    shmpool::shared_rwlock& lock = *rwlock;
    stats[index * fields + attached].store(1);

    std::vector<float> queries;
    std::vector<hit> hits;
    for (;;) {
        const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EINVAL) break;  // the master shut the socket down: stop
            throw_errno("accept");
        }
        socket_fd conn(c);
        set_patience(conn.get(), 30);  // a client that sends nothing does not block us
        try {
            serve(conn.get(), index, matrix, lock, stats, queries, hits);
        } catch (const shmpool::error&) {
            throw;  // the lock or the matrix is broken: this worker cannot go on
        } catch (const std::exception& e) {  // this client failed: serve the next one
            std::fprintf(stderr, "dataset_service: worker %u: %s\n", index, e.what());
        }
    }
}

[[noreturn]] void worker_main(std::uint32_t index, int listen_fd, const names& n, pid_t master) {
    int rc = 0;
    try {
        // Die with the master, even if it is killed: no orphaned workers.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw_errno("prctl(PR_SET_PDEATHSIG)");
        if (::getppid() != master) ::_exit(1);  // the master died before prctl
        const std::string title = "ds-worker-" + std::to_string(index);
        ::prctl(PR_SET_NAME, title.c_str());
        accept_loop(index, listen_fd, n);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dataset_service: worker %u: %s\n", index, e.what());
        rc = 1;
    }
    ::_exit(rc);  // never the master's atexit handlers or destructors
}

}  // namespace

worker_group::worker_group(std::size_t count, const names& n, const std::string& socket_name) {
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listen_.get() < 0) throw_errno("socket");
    const socket_address a = address_of(socket_name);
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) != 0)
        throw_errno("bind @" + socket_name);
    if (::listen(listen_.get(), 256) != 0) throw_errno("listen");
    std::fflush(nullptr);  // nothing buffered gets printed twice
    const pid_t master = ::getpid();
    for (std::size_t i = 0; i < count; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            stop();
            errno = err;
            throw_errno("fork");
        }
        if (pid == 0) worker_main(static_cast<std::uint32_t>(i), listen_.get(), n, master);
        pids_.push_back(pid);
    }
}

void worker_group::wait_attached(const shmpool::raw_array<std::uint64_t>& stats) const {
    const auto deadline = clock_type::now() + std::chrono::seconds(30);
    for (std::size_t i = 0; i < pids_.size(); ++i)
        while (stats[i * fields + attached].load() == 0) {
            int status = 0;
            if (::waitpid(pids_[i], &status, WNOHANG) == pids_[i])
                throw std::runtime_error("worker " + std::to_string(i) +
                                         " exited before attaching to the dataset");
            if (clock_type::now() > deadline)
                throw std::runtime_error("worker " + std::to_string(i) +
                                         " did not attach to the dataset within 30 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
}

bool worker_group::stop() noexcept {
    if (stopped_) return clean_;
    stopped_ = true;
    clean_ = true;
    if (listen_.get() >= 0) ::shutdown(listen_.get(), SHUT_RDWR);
    const auto deadline = clock_type::now() + std::chrono::seconds(10);  // for all of them
    for (const pid_t pid : pids_) {
        const auto left = std::max(clock_type::duration::zero(), deadline - clock_type::now());
        shmpool::exit_status st;
        try {
            st = shmpool::reap_child(pid, std::chrono::ceil<std::chrono::milliseconds>(left));
        } catch (...) {  // not our child (any more)
            clean_ = false;
            continue;
        }
        if (st.timed_out) {
            std::fprintf(stderr, "dataset_service: worker %d did not stop; killing it\n",
                         static_cast<int>(pid));
            clean_ = false;
        } else if (st.signal != 0) {
            std::fprintf(stderr, "dataset_service: worker %d killed by signal %d\n",
                         static_cast<int>(pid), st.signal);
            clean_ = false;
        } else if (!st.ok()) {
            clean_ = false;
        }
    }
    listen_.reset();
    return clean_;
}

}  // namespace dataset_service
