// demos/dataset_service/http: a worker (worker.hpp). cpp-httplib 0.11 binds its own socket; a
// small subclass hands it the inherited one instead (svr_sock_ is protected, and
// listen_after_bind() serves on it). The listening socket is non-blocking and the server
// polls it every 100 ms (its idle interval): a worker that loses the race for a connection to
// another gets EAGAIN rather than blocking in accept(), and notices a stop within 100 ms.
#include "worker.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "handlers.hpp"

namespace dataset_service::http {
namespace {

/// A cpp-httplib server that serves on a socket it is given.
class inherited_socket_server : public httplib::Server {
public:
    /// Accepts on `fd` (already listening) and serves until stop_accepting().
    bool serve_on(int fd) {
        svr_sock_ = fd;
        return listen_after_bind();
    }
    /// Stops accepting (the accept loop sees it within the idle interval); the requests in
    /// flight are finished, kept-alive connections closed. The socket stays open: it is shared.
    void stop_accepting() { svr_sock_ = INVALID_SOCKET; }
};

void configure(inherited_socket_server& server, const serve_options& so) {
    const std::size_t threads = so.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_read_timeout(so.read_timeout, 0);
    server.set_write_timeout(so.write_timeout, 0);
    server.set_keep_alive_timeout(so.keep_alive_timeout);
    server.set_idle_interval(0, 100'000);
    server.set_payload_max_length(so.max_body);
    server.set_tcp_nodelay(true);
}

/// Waits for SIGTERM or SIGINT (blocked in every thread since before the fork), then stops.
void stop_on_signal(inherited_socket_server& server) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    server.stop_accepting();
}

void serve(std::uint32_t slot, std::size_t workers, int listen_fd, const names& n,
           const serve_options& so) {
    worker_context ctx{slot,
                       workers,
                       n,
                       so,
                       open_matrix(n, so),
                       shmpool::shared_object<shmpool::shared_rwlock>::open(n.lock),
                       shmpool::raw_array<std::uint64_t>::open(n.stats)};
    ctx.stats[slot_at(slot, slot_served)].store(0);
    ctx.stats[slot_at(slot, slot_errors)].store(0);
    inherited_socket_server server;
    configure(server, so);
    install_handlers(server, ctx);
    std::thread(stop_on_signal, std::ref(server)).detach();
    ctx.stats[slot_at(slot, slot_ready)].store(1);
    if (!server.serve_on(listen_fd)) throw std::runtime_error("the listening socket failed");
}

}  // namespace

void worker_main(std::uint32_t slot, std::size_t workers, int listen_fd, const names& n,
                 const serve_options& so, pid_t master) {
    int rc = 0;
    try {
        // Die with the master, even if it is killed: no orphaned workers.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ::_exit(1);
        if (::getppid() != master) ::_exit(1);  // the master died before prctl
        const std::string title = std::string("ds-http-") + std::to_string(slot);
        ::prctl(PR_SET_NAME, title.c_str());
        std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-reply is an error, not a death
        serve(slot, workers, listen_fd, n, so);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dataset_service: HTTP worker %u: %s\n", slot, e.what());
        rc = 1;
    }
    std::fflush(nullptr);
    ::_exit(rc);  // never the master's atexit handlers or destructors
}

}  // namespace dataset_service::http
