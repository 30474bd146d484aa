// demos/dataset_service/http: the master of the --serve mode (serve.hpp). Signals are blocked
// before anything else (the workers inherit the mask; each waits for its own with sigwait),
// and the master waits for SIGTERM, SIGINT and SIGCHLD with sigtimedwait: no handler, no race.
#include "serve.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "../kernels.hpp"
#include "../protocol.hpp"
#include "listener.hpp"
#include "worker.hpp"

namespace dataset_service::http {

void add_serve_options(CLI::App& app, serve_options& so) {
    app.add_flag("--serve", so.serve,
                 "serve HTTP (POST /topk, POST /update, GET /health, GET /stats) until SIGTERM");
    app.add_option("--address", so.address, "--serve: the address to listen on");
    app.add_option("--port", so.port, "--serve: the TCP port (0: a free one, printed)")
        ->check(CLI::Range(0, 65535));
    app.add_option("--name", so.name,
                   "--serve: prefix of the shared objects' names (default shmpool_dataset_PID)");
    app.add_option("--threads", so.threads, "--serve: HTTP threads per worker")
        ->check(CLI::Range(1, 256));
    app.add_option("--max-body", so.max_body, "--serve: largest request body in bytes (else 413)")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 32));
    app.add_option("--read-timeout", so.read_timeout, "--serve: seconds to wait for a client")
        ->check(CLI::Range(1, 3600));
    app.add_option("--matrix-file", so.matrix_file,
                   "--serve: keep the matrix in this .npy file: loaded when it does not exist, "
                   "reused (same --rows and --dim) when it does, never removed");
}

namespace {

/// The master's state: the shared objects, the socket, a PID per worker slot.
struct service {
    const options& o;
    const serve_options& so;
    names n;
    shmpool::shared_array<float> matrix;
    shmpool::shared_object<shmpool::shared_rwlock> rwlock;
    shmpool::raw_array<std::uint64_t> stats;
    listener sock;
    std::vector<pid_t> pids;
    std::vector<const std::string*> created;  // the names to remove at the end

    /// The matrix: a new one in /dev/shm, or the --matrix-file (reused when it exists).
    void load() {
        const auto start = clock_type::now();
        const std::string& file = so.matrix_file;
        if (!file.empty() && std::filesystem::exists(file)) {
            matrix = shmpool::shared_array<float>::open(shmpool::file_path{file});
            if (matrix.shape().size() != 2 || matrix.shape()[0] != o.rows ||
                matrix.shape()[1] != o.dim)
                throw std::runtime_error(file + " does not hold a " + std::to_string(o.rows) +
                                         " x " + std::to_string(o.dim) + " matrix");
            std::printf("master %d: reusing the matrix in %s\n", static_cast<int>(::getpid()),
                        file.c_str());
            return;
        }
        matrix = file.empty() ? shmpool::shared_array<float>::create(n.matrix, {o.rows, o.dim})
                              : shmpool::shared_array<float>::create(shmpool::file_path{file},
                                                                     {o.rows, o.dim});
        if (file.empty()) created.push_back(&n.matrix);
        load_matrix(matrix.data(), o.rows, o.dim);
        std::printf("master %d: a %zu x %zu float32 matrix (%.1f MB) in %s in %.2f s\n",
                    static_cast<int>(::getpid()), o.rows, o.dim,
                    mb(static_cast<double>(o.rows * o.dim * sizeof(float))),
                    matrix_path(n, so).c_str(), seconds_since(start));
    }

    void create() {
        load();
        rwlock = shmpool::shared_object<shmpool::shared_rwlock>::create(n.lock);
        created.push_back(&n.lock);
        stats = shmpool::raw_array<std::uint64_t>::create(n.stats, stats_words);
        created.push_back(&n.stats);
        stats[master_pid].store(static_cast<std::uint64_t>(::getpid()));
        stats[worker_count].store(o.workers);
    }

    void spawn(std::size_t slot) {
        stats[slot_at(slot, slot_ready)].store(0);
        std::fflush(nullptr);  // nothing buffered gets printed twice
        const pid_t master = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw_errno("fork");
        if (pid == 0)
            worker_main(static_cast<std::uint32_t>(slot), o.workers, sock.fd, n, so, master);
        pids[slot] = pid;
        stats[slot_at(slot, slot_pid)].store(static_cast<std::uint64_t>(pid));
    }

    /// True once every worker is ready; false if one exits first or 60 s pass.
    bool wait_ready() {
        const auto deadline = clock_type::now() + std::chrono::seconds(60);
        for (std::size_t s = 0; s < pids.size(); ++s)
            while (stats[slot_at(s, slot_ready)].load() == 0) {
                int status = 0;
                if (::waitpid(pids[s], &status, WNOHANG) == pids[s]) {
                    pids[s] = 0;
                    return false;
                }
                if (clock_type::now() > deadline) return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        return true;
    }

    /// Reaps the workers that died and forks their replacements.
    void replace_dead() {
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;)
            for (std::size_t s = 0; s < pids.size(); ++s)
                if (pids[s] == pid) {
                    std::printf("worker %zu (pid %d) %s %d; starting another\n", s,
                                static_cast<int>(pid),
                                WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                    stats[slot_at(s, slot_restarts)].fetch_add(1);
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no storm
                    spawn(s);
                }
    }

    /// SIGTERM to every worker, reaped within 30 s (SIGKILL after). True if all exited 0.
    bool stop_workers() noexcept {
        for (const pid_t pid : pids)
            if (pid > 0) ::kill(pid, SIGTERM);
        bool clean = true;
        for (pid_t& pid : pids) {
            if (pid <= 0) continue;
            try {
                const shmpool::exit_status st = shmpool::reap_child(pid, std::chrono::seconds(30));
                clean = clean && !st.timed_out && st.ok();
            } catch (const std::exception&) {  // not our child any more
                clean = false;
            }
            pid = 0;
        }
        return clean;
    }

    void remove_all() noexcept {
        if (sock.fd >= 0) ::close(sock.fd);
        sock.fd = -1;
        matrix = {};
        for (const std::string* name : created) try {
                shmpool::shared_array<std::uint8_t>::remove(*name);
            } catch (const std::exception&) {
            }
    }
};

/// Waits for SIGTERM or SIGINT, replacing workers that die meanwhile.
void supervise(service& s, const sigset_t& set) {
    for (;;) {
        const timespec second{1, 0};
        const int sig = ::sigtimedwait(&set, nullptr, &second);
        if (sig == SIGTERM || sig == SIGINT) {
            std::printf("signal %d: stopping\n", sig);
            std::fflush(stdout);
            return;
        }
        s.replace_dead();  // on SIGCHLD, and every second in case one was coalesced
    }
}

int serve_blocked(service& s, const sigset_t& set) {
    s.sock = open_listener(s.so.address, s.so.port);  // first: a port in use fails at once
    s.create();
    std::printf("listening on %s\n", url_of(s.so.address, s.sock.port).c_str());
    for (std::size_t i = 0; i < s.pids.size(); ++i) s.spawn(i);
    if (!s.wait_ready()) {
        std::fprintf(stderr, "dataset_service: a worker failed to start\n");
        s.stop_workers();
        return 1;
    }
    std::printf("ready: %zu workers (pids", s.pids.size());
    for (const pid_t pid : s.pids) std::printf(" %d", static_cast<int>(pid));
    std::printf(")\n");
    std::fflush(stdout);
    supervise(s, set);
    const bool clean = s.stop_workers();
    std::printf("stopped: workers reaped%s, shared objects removed\n",
                clean ? "" : " (not all cleanly)");
    return 0;
}

}  // namespace

int run_service(const options& o, const serve_options& so) {
    sigset_t set;
    sigemptyset(&set);
    for (const int sig : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, sig);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    const std::string base =
        so.name.empty() ? std::string("shmpool_dataset_") + std::to_string(::getpid()) : so.name;
    service s{o,
              so,
              {base + "_matrix", base + "_lock", base + "_stats"},
              {},
              {},
              {},
              {},
              std::vector<pid_t>(o.workers, 0),
              {}};
    int rc = 1;
    try {
        rc = serve_blocked(s, set);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dataset_service: %s\n", e.what());
        s.stop_workers();
    }
    s.remove_all();
    std::fflush(nullptr);
    return rc;
}

}  // namespace dataset_service::http
