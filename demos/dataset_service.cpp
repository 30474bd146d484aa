// The web-service seed: one large read-only dataset, N pre-forked workers, constant memory.
//
// The master loads a matrix of feature vectors (by default 4,000,000 x 128 float32, 2.05 GB)
// once into a named shared array, then forks N workers; each worker attaches to the matrix by
// name and answers "the k rows most similar to each of these m vectors" over a local socket.
// A request carries a whole m x dim batch of queries (the Spark article's lesson: one scan of
// the matrix serves the batch, not one vector). A built-in client sends a bounded load (at most
// --concurrency requests in flight), while the master rewrites rows in place under a
// shared_rwlock that the workers hold in shared mode during each scan. The demo prints the
// throughput, latency percentiles and every process's RSS/PSS/USS: the sum of PSS stays one
// copy of the matrix whatever the number of workers (--sweep runs N = 1, 2, 4, 8).
//
// Self-check (non-zero exit when one fails): every request answered correctly shaped; a few
// queries answered by the service after the updates equal a brute-force scan by the master,
// and queries equal to rewritten rows find those rows first (the workers see the writes); every
// worker served requests; the sum of PSS is one matrix (within --pss-tolerance) plus a small
// per-process allowance; workers stopped and reaped, the shared segments removed, and opening
// the matrix by name afterwards fails with not_found_error.
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <shmpool/shmpool.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

double mb(double bytes) { return bytes / 1e6; }

std::string fixed(double v, int decimals = 1) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}
double kb_to_mb(std::uint64_t kb) { return static_cast<double>(kb) * 1024.0 / 1e6; }

struct options {
    std::size_t rows = 4'000'000;  // 4,000,000 x 128 float32: 2.05 GB, the issue's 2 GB
    std::size_t dim = 128;
    std::size_t workers = 4;    // the seed's four workers
    std::size_t requests = 24;  // per run (per N with --sweep)
    std::size_t batch = 8;      // queries per request: an m x dim matrix
    std::size_t k = 10;
    std::size_t concurrency = 0;  // requests in flight at most; 0: one per worker
    std::size_t updates = 4;      // in-place rewrites while serving
    std::size_t update_rows = 1000;
    std::size_t checks = 4;  // queries checked against the brute-force scan
    double pss_tolerance = 0.10;
    bool sweep = false;
};

// ---------------------------------------------------------------------------------------------
// The hot loops. The dev preset builds without optimisation; these few functions (filling the
// matrix, the scan, the brute-force check) are compiled optimised whatever the build type, so
// that the demo's timings mean something in every build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

std::uint64_t mix(std::uint64_t z) {  // splitmix64's finaliser
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// Row `row` of `version` (0: as loaded, then one per rewrite): uniform values in [-1, 1)
/// scaled to unit length, so that a dot product is a cosine. Queries use the same generator
/// with row numbers above any matrix row.
void make_row(float* out, std::size_t dim, std::uint64_t row, std::uint64_t version) {
    std::uint64_t s = mix(row * 0x9e3779b97f4a7c15ULL + version * 0xd1b54a32d192ed03ULL + 1);
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;  // a 64-bit LCG: cheap
        const float v = static_cast<float>(s >> 40) * 0x1p-23f - 1.0f;
        out[d] = v;
        norm += static_cast<double>(v) * v;
    }
    const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    for (std::size_t d = 0; d < dim; ++d) out[d] *= scale;
}

void fill_rows(float* x, std::size_t first, std::size_t last, std::size_t dim,
               std::uint64_t version) {
    for (std::size_t r = first; r < last; ++r) make_row(x + r * dim, dim, r, version);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/// The master's load: fill_rows over all rows with one thread per core. The threads are
/// joined before any worker is forked.
void load_matrix(float* x, std::size_t rows, std::size_t dim) {
    const std::size_t n = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < n; ++t)
        threads.emplace_back(fill_rows, x, rows * t / n, rows * (t + 1) / n, dim, 0);
    for (auto& t : threads) t.join();
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

/// One hit of a reply: a row of the matrix and its score (dot product) with the query.
struct hit {
    std::uint64_t row;
    float score;
    std::uint32_t reserved;
};
static_assert(sizeof(hit) == 16);

[[gnu::always_inline]] inline float dot(const float* __restrict a, const float* __restrict b,
                                        std::size_t n) {
    float lane[16] = {};  // 16 independent sums, which the compiler turns into vector registers
    const std::size_t whole = n - n % 16;
    for (std::size_t d = 0; d < whole; d += 16)
        for (std::size_t j = 0; j < 16; ++j) lane[j] += a[d + j] * b[d + j];
    float sum = 0;
    for (std::size_t d = whole; d < n; ++d) sum += a[d] * b[d];
    for (std::size_t j = 0; j < 16; ++j) sum += lane[j];
    return sum;
}

/// Puts (row, score) into `best` (`count` hits sorted best first, room for k), in a new slot
/// or in place of the worst. The caller has checked that it belongs there.
void insert_hit(hit* best, std::size_t& count, std::size_t k, std::uint64_t row, float score) {
    std::size_t at = count < k ? count++ : k - 1;
    while (at > 0 && best[at - 1].score < score) {  // ties keep the row seen first
        best[at] = best[at - 1];
        --at;
    }
    best[at] = hit{row, score, 0};
}

/// For each of the m queries (m x dim, C order) the k rows of `x` (rows x dim) with the highest
/// dot product, best first, into out (m x k). The matrix is read once per call, in blocks of
/// rows that stay in cache while every query of the batch passes over them: one scan of the
/// matrix serves the whole batch.
void scan_top_k(const float* x, std::size_t rows, std::size_t dim, const float* queries,
                std::size_t m, std::size_t k, hit* out, float* floor, std::size_t* count) {
    constexpr std::size_t block = 64;  // 64 rows of 128 floats: 32 KiB
    for (std::size_t q = 0; q < m; ++q) {
        floor[q] = -std::numeric_limits<float>::infinity();
        count[q] = 0;
    }
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
        const std::size_t r1 = std::min(rows, r0 + block);
        for (std::size_t q = 0; q < m; ++q) {
            const float* query = queries + q * dim;
            hit* best = out + q * k;
            for (std::size_t r = r0; r < r1; ++r) {
                const float s = dot(x + r * dim, query, dim);
                if (count[q] < k || s > floor[q]) {
                    insert_hit(best, count[q], k, r, s);
                    if (count[q] == k) floor[q] = best[k - 1].score;
                }
            }
        }
    }
}

/// The check's reference: for each of the m queries, every row's dot product in double, in
/// the plain order, keeping the k best by insertion. Returns m x k (row, score) best first.
std::vector<std::pair<std::uint64_t, double>> brute_force(const float* x, std::size_t rows,
                                                          std::size_t dim, const float* queries,
                                                          std::size_t m, std::size_t k) {
    std::vector<std::pair<std::uint64_t, double>> best(m * k, {0, -HUGE_VAL});
    std::vector<double> score(m);
    std::pair<std::uint64_t, double>* b = best.data();
    double* s = score.data();
    for (std::size_t r = 0; r < rows; ++r) {
        const float* row = x + r * dim;
        for (std::size_t q = 0; q < m; ++q) s[q] = 0;
        for (std::size_t d = 0; d < dim; ++d)
            for (std::size_t q = 0; q < m; ++q)
                s[q] += static_cast<double>(row[d]) * static_cast<double>(queries[q * dim + d]);
        for (std::size_t q = 0; q < m; ++q) {
            auto* top = b + q * k;
            if (!(s[q] > top[k - 1].second)) continue;
            std::size_t at = k - 1;
            while (at > 0 && top[at - 1].second < s[q]) {
                top[at] = top[at - 1];
                --at;
            }
            top[at] = {r, s[q]};
        }
    }
    return best;
}

/// The dot product in double of row `r` with a query (to check a reported score).
double exact_score(const float* x, std::size_t dim, std::uint64_t r, const float* query) {
    double s = 0;
    for (std::size_t d = 0; d < dim; ++d)
        s += static_cast<double>(x[r * dim + d]) * static_cast<double>(query[d]);
    return s;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// ---------------------------------------------------------------------------------------------
// The protocol, on a local (AF_UNIX, abstract namespace) stream socket, one request per
// connection: a header, then `queries` x `dim` float32. The reply: a header, then either
// `queries` x `k` hits (status 0) or a message of `message_bytes` bytes (status 1).

constexpr std::uint32_t request_magic = 0x314e4e4b;  // "KNN1"
constexpr std::uint32_t reply_magic = 0x31504552;    // "REP1"
constexpr std::size_t max_batch = 4096;
constexpr std::size_t max_k = 1000;

struct request_header {
    std::uint32_t magic = request_magic;
    std::uint32_t queries = 0;
    std::uint32_t dim = 0;
    std::uint32_t k = 0;
};

struct reply_header {
    std::uint32_t magic = reply_magic;
    std::uint32_t status = 0;
    std::uint32_t queries = 0;
    std::uint32_t k = 0;
    std::uint32_t worker = 0;
    std::uint32_t message_bytes = 0;
    double scan_seconds = 0;       // the worker's scan, under the shared lock
    double lock_wait_seconds = 0;  // how long it waited for the shared lock (behind a writer)
};

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

struct socket_address {
    sockaddr_un addr{};
    socklen_t length = 0;
};

/// The abstract-namespace address "@name": nothing in the file system, gone with the socket.
socket_address address_of(const std::string& name) {
    socket_address a;
    a.addr.sun_family = AF_UNIX;
    if (name.size() + 1 > sizeof(a.addr.sun_path)) throw std::invalid_argument("socket name");
    std::memcpy(a.addr.sun_path + 1, name.data(), name.size());
    a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return a;
}

class socket_fd {
public:
    explicit socket_fd(int fd = -1) noexcept : fd_(fd) {}
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

void send_all(int fd, const void* data, std::size_t bytes) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("send");
        }
        p += n;
        bytes -= static_cast<std::size_t>(n);
    }
}

/// Reads exactly `bytes`; false if the peer closed the connection before the first byte.
bool recv_all(int fd, void* data, std::size_t bytes) {
    auto* p = static_cast<char*>(data);
    const std::size_t wanted = bytes;
    while (bytes > 0) {
        const ssize_t n = ::recv(fd, p, bytes, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                throw std::runtime_error("recv: timed out");
            throw_errno("recv");
        }
        if (n == 0) {
            if (bytes == wanted) return false;
            throw std::runtime_error("connection closed in the middle of a message");
        }
        p += n;
        bytes -= static_cast<std::size_t>(n);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// The shared objects: the matrix, the reader-writer lock, per-worker counters.

struct names {
    std::string matrix, lock, stats;
};

/// The per-worker counters, in a shared raw_array: worker i's are at i * fields + field.
enum stat_field : std::size_t {
    attached,  // 1 once the worker has opened everything by name and is about to accept
    served_requests,
    fields
};
constexpr std::size_t max_workers = 64;

/// The shared_rwlock constructed in place at the start of a uint8 shared array.
shmpool::shared_rwlock& rwlock_in(const shmpool::shared_array<std::uint8_t>& bytes) {
    return *std::launder(reinterpret_cast<shmpool::shared_rwlock*>(bytes.data()));
}

// ---------------------------------------------------------------------------------------------
// A worker: attach by name, then accept, scan under the shared lock, reply, until the master
// shuts the listening socket down.

void serve(int fd, std::uint32_t index, const shmpool::shared_array<float>& matrix,
           shmpool::shared_rwlock& lock, const shmpool::raw_array<std::uint64_t>& stats,
           std::vector<float>& queries, std::vector<hit>& hits) {
    request_header req;
    if (!recv_all(fd, &req, sizeof req)) return;
    const std::size_t rows = matrix.shape()[0], dim = matrix.shape()[1];
    reply_header rep;
    rep.worker = index;
    std::string problem;
    if (req.magic != request_magic)
        problem = "not a request (bad magic number)";
    else if (req.dim != dim)
        problem = "queries have " + std::to_string(req.dim) + " values; the matrix rows have " +
                  std::to_string(dim);
    else if (req.queries == 0 || req.queries > max_batch)
        problem = "a batch holds 1 to " + std::to_string(max_batch) + " queries";
    else if (req.k == 0 || req.k > max_k || req.k > rows)
        problem = "k must be 1 to " + std::to_string(std::min(max_k, rows));
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

[[noreturn]] void worker_main(std::uint32_t index, int listen_fd, const names& n, pid_t master) {
    int rc = 0;
    try {
        // Die with the master, even if it is killed: no orphaned workers.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) throw_errno("prctl(PR_SET_PDEATHSIG)");
        if (::getppid() != master) ::_exit(1);  // the master died before prctl
        const std::string title = "ds-worker-" + std::to_string(index);
        ::prctl(PR_SET_NAME, title.c_str());

        // Attach by name, as a worker started any other way would. (The mapping inherited
        // through fork is the same segment, so open() checks the name and reuses it: nothing
        // is mapped twice, nothing is copied.)
        const auto matrix = shmpool::shared_array<float>::open(n.matrix);
        const auto lock_bytes = shmpool::shared_array<std::uint8_t>::open(n.lock);
        const auto stats = shmpool::raw_array<std::uint64_t>::open(n.stats);
        shmpool::shared_rwlock& lock = rwlock_in(lock_bytes);
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
            const timeval patience{30, 0};  // a client that sends nothing does not block us
            ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
            ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
            try {
                serve(conn.get(), index, matrix, lock, stats, queries, hits);
            } catch (const shmpool::error&) {
                throw;  // the lock or the matrix is broken: this worker cannot go on
            } catch (const std::exception& e) {  // this client failed: serve the next one
                std::fprintf(stderr, "dataset_service: worker %u: %s\n", index, e.what());
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dataset_service: worker %u: %s\n", index, e.what());
        rc = 1;
    }
    ::_exit(rc);  // never the master's atexit handlers or destructors
}

/// N workers sharing one listening socket. The destructor stops them if stop() was not called.
class worker_group {
public:
    worker_group(std::size_t count, const names& n, const std::string& socket_name) {
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
    worker_group(const worker_group&) = delete;
    worker_group& operator=(const worker_group&) = delete;
    ~worker_group() { stop(); }

    const std::vector<pid_t>& pids() const noexcept { return pids_; }

    /// Waits until every worker has attached to the shared objects by name. Throws if one
    /// exits first (its message is on stderr) or does not attach within 30 s.
    void wait_attached(const shmpool::raw_array<std::uint64_t>& stats) const {
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

    /// Shuts the listening socket down (each worker's accept() then fails with EINVAL and the
    /// worker exits), reaps the workers, kills any still there after 10 s. Returns true if
    /// every worker exited with status 0. Idempotent.
    bool stop() noexcept {
        if (stopped_) return clean_;
        stopped_ = true;
        clean_ = true;
        if (listen_.get() >= 0) ::shutdown(listen_.get(), SHUT_RDWR);
        const auto deadline = clock_type::now() + std::chrono::seconds(10);
        for (const pid_t pid : pids_) {
            int status = 0;
            pid_t r = 0;
            while ((r = ::waitpid(pid, &status, WNOHANG)) == 0 && clock_type::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            if (r == 0) {
                std::fprintf(stderr, "dataset_service: worker %d did not stop; killing it\n",
                             static_cast<int>(pid));
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &status, 0);
                clean_ = false;
            } else if (r < 0) {
                clean_ = false;
            } else if (WIFSIGNALED(status)) {
                std::fprintf(stderr, "dataset_service: worker %d killed by signal %d\n",
                             static_cast<int>(pid), WTERMSIG(status));
                clean_ = false;
            } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                clean_ = false;
            }
        }
        listen_.reset();
        return clean_;
    }

private:
    socket_fd listen_;
    std::vector<pid_t> pids_;
    bool stopped_ = false;
    bool clean_ = false;
};

// ---------------------------------------------------------------------------------------------
// The client side.

struct answer {
    reply_header header;
    std::vector<hit> hits;  // queries x k, best first for each query
};

/// Sends one batch of m queries and waits for the answer. Throws on any failure, with the
/// worker's own message when it refused the request.
answer ask(const std::string& socket_name, const float* queries, std::size_t m, std::size_t dim,
           std::size_t k) {
    socket_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) throw_errno("socket");
    const timeval patience{120, 0};  // a stuck worker fails the run instead of hanging it
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
    const socket_address a = address_of(socket_name);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) != 0)
        throw_errno("connect to @" + socket_name);
    request_header req;
    req.queries = static_cast<std::uint32_t>(m);
    req.dim = static_cast<std::uint32_t>(dim);
    req.k = static_cast<std::uint32_t>(k);
    send_all(s.get(), &req, sizeof req);
    send_all(s.get(), queries, m * dim * sizeof(float));
    answer ans;
    if (!recv_all(s.get(), &ans.header, sizeof ans.header))
        throw std::runtime_error("a worker closed the connection without answering");
    if (ans.header.magic != reply_magic) throw std::runtime_error("not a reply (bad magic)");
    if (ans.header.status != 0) {
        std::string message(std::min<std::size_t>(ans.header.message_bytes, 4096), '\0');
        recv_all(s.get(), message.data(), message.size());
        throw std::runtime_error("worker " + std::to_string(ans.header.worker) +
                                 " refused the request: " + message);
    }
    if (ans.header.queries != m || ans.header.k != k)
        throw std::runtime_error("a reply of the wrong shape");
    ans.hits.resize(m * k);
    if (!recv_all(s.get(), ans.hits.data(), ans.hits.size() * sizeof(hit)))
        throw std::runtime_error("a reply without its hits");
    return ans;
}

/// Checks what any answer must be: rows of the matrix, distinct, finite scores best first.
void check_shape(const answer& a, std::size_t m, std::size_t k, std::size_t rows,
                 std::size_t workers) {
    if (a.header.worker >= workers) throw std::runtime_error("a reply from an unknown worker");
    std::vector<std::uint64_t> seen(k);
    for (std::size_t q = 0; q < m; ++q) {
        const hit* h = a.hits.data() + q * k;
        for (std::size_t j = 0; j < k; ++j) {
            if (h[j].row >= rows || !std::isfinite(h[j].score) ||
                (j > 0 && h[j].score > h[j - 1].score))
                throw std::runtime_error("worker " + std::to_string(a.header.worker) +
                                         " answered rows that are not a top-k list");
            seen[j] = h[j].row;
        }
        std::sort(seen.begin(), seen.end());
        if (std::adjacent_find(seen.begin(), seen.end()) != seen.end())
            throw std::runtime_error("worker " + std::to_string(a.header.worker) +
                                     " answered the same row twice for one query");
    }
}

/// The row number the generator uses for query `i` of round `round`: above every matrix row.
std::uint64_t query_id(std::size_t round, std::uint64_t i) {
    return (std::uint64_t{1} << 48) + (static_cast<std::uint64_t>(round) << 36) + i;
}

// ---------------------------------------------------------------------------------------------
// One run with N workers: load with rewrites, memory, check, shutdown.

struct dataset {
    names n;
    shmpool::shared_array<float> matrix;
    shmpool::shared_array<std::uint8_t> lock_bytes;
    shmpool::raw_array<std::uint64_t> stats;
    std::size_t rows = 0, dim = 0;
    std::uint64_t version = 0;  // of the last rewrite
    shmpool::shared_rwlock& lock() const { return rwlock_in(lock_bytes); }
};

struct rewrite {
    std::size_t first_row = 0, count = 0;
    std::uint64_t version = 0;
    double wait_seconds = 0, hold_seconds = 0;
    bool while_serving = false;
};

/// Rewrites `count` consecutive rows in place under the writer lock: the workers finish the
/// scans they are in, new scans wait, the rows change, the scans resume.
rewrite rewrite_rows(dataset& ds, std::size_t count) {
    rewrite w;
    w.version = ++ds.version;
    w.count = count;
    w.first_row = static_cast<std::size_t>(mix(w.version) % (ds.rows - count + 1));
    const auto asked = clock_type::now();
    std::unique_lock writing(ds.lock());
    const auto got = clock_type::now();
    fill_rows(ds.matrix.data(), w.first_row, w.first_row + count, ds.dim, w.version);
    writing.unlock();
    w.wait_seconds = std::chrono::duration<double>(got - asked).count();
    w.hold_seconds = seconds_since(got);
    return w;
}

struct load_report {
    std::vector<double> latencies;  // seconds, one per request
    std::vector<std::uint64_t> by_worker;
    std::vector<rewrite> rewrites;
    double seconds = 0, total_scan = 0, max_lock_wait = 0;
};

/// The built-in client: `concurrency` threads, each with one request in flight at most, send
/// `requests` batches between them (so the load is bounded and a slow service slows the
/// client down instead of piling requests up), while this thread rewrites rows. The first
/// error in a client thread stops the others and is rethrown here.
load_report run_load(const options& o, dataset& ds, std::size_t workers, std::size_t concurrency,
                     const std::string& socket_name, std::size_t round) {
    load_report rep;
    rep.by_worker.assign(workers, 0);
    std::atomic<std::size_t> next{0}, done{0}, running{concurrency};
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::exception_ptr failure;

    const auto client = [&] {
        try {
            std::vector<float> queries(o.batch * ds.dim);
            while (!stop.load()) {
                const std::size_t i = next.fetch_add(1);
                if (i >= o.requests) break;
                for (std::size_t q = 0; q < o.batch; ++q)
                    make_row(queries.data() + q * ds.dim, ds.dim, query_id(round, i * o.batch + q),
                             0);
                const auto sent = clock_type::now();
                const answer a = ask(socket_name, queries.data(), o.batch, ds.dim, o.k);
                const double latency = seconds_since(sent);
                check_shape(a, o.batch, o.k, ds.rows, workers);
                const std::lock_guard g(mu);
                rep.latencies.push_back(latency);
                ++rep.by_worker[a.header.worker];
                rep.total_scan += a.header.scan_seconds;
                rep.max_lock_wait = std::max(rep.max_lock_wait, a.header.lock_wait_seconds);
                done.fetch_add(1);
            }
        } catch (...) {
            const std::lock_guard g(mu);
            if (!failure) failure = std::current_exception();
            stop = true;
        }
        running.fetch_sub(1);
    };

    const auto start = clock_type::now();
    {
        std::vector<std::jthread> threads;
        try {
            for (std::size_t t = 0; t < concurrency; ++t) threads.emplace_back(client);
            for (std::size_t u = 0; u < o.updates && !stop.load(); ++u) {
                const std::size_t due = (u + 1) * o.requests / (o.updates + 1);
                while (done.load() < due && running.load() > 0)
                    std::this_thread::sleep_for(std::chrono::microseconds(500));
                const bool serving = done.load() < o.requests && running.load() > 0;
                rewrite w = rewrite_rows(ds, o.update_rows);
                w.while_serving = serving;
                rep.rewrites.push_back(w);
            }
        } catch (...) {
            stop = true;
            throw;  // the threads are joined on the way out
        }
    }
    rep.seconds = seconds_since(start);
    if (failure) std::rethrow_exception(failure);
    return rep;
}

double percentile(const std::vector<double>& sorted, double p) {  // nearest rank
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

struct memory_outcome {
    std::uint64_t rss_sum_kb = 0, pss_sum_kb = 0, matrix_pss_sum_kb = 0, matrix_resident_kb = 0;
    double pss_over_matrix = 0;
};

/// Reads the smaps of the master and its workers, prints each one's memory, and checks that
/// the sum of PSS is one copy of the matrix plus a small allowance per process.
memory_outcome report_memory(const options& o, const dataset& ds, const std::vector<pid_t>& workers,
                             std::vector<std::string>& failures) {
    constexpr std::uint64_t allowance_kb = 16 * 1024;  // per process: code, heap, stacks
    std::vector<pid_t> pids{::getpid()};
    pids.insert(pids.end(), workers.begin(), workers.end());
    const shmpool::memory_report mem = shmpool::inspect_memory(pids);
    const auto matrix_bytes = static_cast<double>(ds.rows * ds.dim * sizeof(float));

    const shmpool::segment_memory* seg = nullptr;
    for (const auto& s : mem.segments)
        if (s.name.ends_with("/" + ds.n.matrix)) seg = &s;
    if (!seg || !mem.skipped.empty() || mem.processes.size() != pids.size()) {
        failures.push_back("memory: the matrix or a process is missing from the smaps read");
        return {};
    }

    std::printf("memory (from /proc/PID/smaps, read in %.2f s; MB = 10^6 bytes):\n",
                mem.read_seconds);
    std::printf("  %-10s %8s %7s %10s %10s %10s %12s %12s\n", "process", "pid", "served", "RSS MB",
                "PSS MB", "USS MB", "matrix RSS", "matrix PSS");
    memory_outcome out;
    for (std::size_t i = 0; i < mem.processes.size(); ++i) {
        const auto& p = mem.processes[i];
        std::uint64_t m_rss = 0, m_pss = 0;
        for (const auto& map : p.mappings)
            if (map.inode == seg->inode && map.dev_id == seg->dev_id) {
                m_rss += map.rss_kb;
                m_pss += map.pss_kb;
            }
        const std::string who = i == 0 ? "master" : "worker " + std::to_string(i - 1);
        const std::string served =
            i == 0 ? "-" : std::to_string(ds.stats[(i - 1) * fields + served_requests].load());
        std::printf("  %-10s %8d %7s %10.1f %10.1f %10.1f %12.1f %12.1f\n", who.c_str(),
                    static_cast<int>(p.pid), served.c_str(), kb_to_mb(p.total.rss_kb),
                    kb_to_mb(p.total.pss_kb), kb_to_mb(p.total.uss_kb), kb_to_mb(m_rss),
                    kb_to_mb(m_pss));
        out.rss_sum_kb += p.total.rss_kb;
        out.pss_sum_kb += p.total.pss_kb;
    }
    out.matrix_pss_sum_kb = seg->pss_sum_kb;
    out.matrix_resident_kb = seg->resident_kb;
    out.pss_over_matrix = static_cast<double>(out.pss_sum_kb) * 1024.0 / matrix_bytes;
    std::printf("  %-10s %8s %7s %10.1f %10.1f %10s %12.1f %12.1f\n", "sum", "", "",
                kb_to_mb(out.rss_sum_kb), kb_to_mb(out.pss_sum_kb), "", kb_to_mb(seg->rss_sum_kb),
                kb_to_mb(seg->pss_sum_kb));
    std::printf(
        "  the matrix is %.1f MB: the sum of PSS over the %zu processes is %.1f MB = "
        "%.3f x the matrix;\n  adding up RSS would claim %.1f MB = %.2f copies.\n",
        mb(matrix_bytes), pids.size(), kb_to_mb(out.pss_sum_kb), out.pss_over_matrix,
        kb_to_mb(out.rss_sum_kb), static_cast<double>(out.rss_sum_kb) * 1024.0 / matrix_bytes);
    std::printf("  matrix segment: %s\n", seg->verdict.c_str());

    const double seg_pss = static_cast<double>(seg->pss_sum_kb) * 1024.0;
    if (std::fabs(seg_pss - matrix_bytes) > o.pss_tolerance * matrix_bytes)
        failures.push_back(
            "memory: the matrix's pages add up to " + fixed(kb_to_mb(seg->pss_sum_kb), 3) +
            " MB of PSS = " + fixed(100 * seg_pss / matrix_bytes, 2) + "% of one matrix, beyond " +
            "the tolerance of " + fixed(o.pss_tolerance * 100, 0) + "%");
    const double limit = (1 + o.pss_tolerance) * matrix_bytes +
                         static_cast<double>(allowance_kb * 1024 * pids.size());
    if (static_cast<double>(out.pss_sum_kb) * 1024.0 > limit)
        failures.push_back("memory: the sum of PSS, " + fixed(kb_to_mb(out.pss_sum_kb)) +
                           " MB, exceeds one matrix + " + fixed(o.pss_tolerance * 100, 0) +
                           "% + 16 MB per process (" + fixed(mb(limit)) + " MB)");
    return out;
}

/// Sends a few queries through the service and compares the answer with a brute-force scan by
/// the master. Half of the queries (when rows were rewritten) are rows of the last rewrite,
/// generated afresh: each must find its own row first, with score 1, which the workers can
/// only see if the rewrite reached the memory they scan.
void check_answers(const options& o, dataset& ds, const std::vector<rewrite>& rewrites,
                   std::size_t workers, const std::string& socket_name, std::size_t round,
                   std::vector<std::string>& failures) {
    if (o.checks == 0) return;
    const std::size_t m = o.checks, k = o.k, dim = ds.dim;
    std::vector<float> queries(m * dim);
    std::vector<std::uint64_t> own_row(m, std::numeric_limits<std::uint64_t>::max());
    std::size_t rewritten = 0;
    if (!rewrites.empty()) {
        const rewrite& last = rewrites.back();
        rewritten = std::min((m + 1) / 2, last.count);
        for (std::size_t q = 0; q < rewritten; ++q) {
            own_row[q] = last.first_row + q * last.count / rewritten;
            make_row(queries.data() + q * dim, dim, own_row[q], last.version);
        }
    }
    for (std::size_t q = rewritten; q < m; ++q)
        make_row(queries.data() + q * dim, dim, query_id(round, (std::uint64_t{1} << 35) + q), 0);

    auto start = clock_type::now();
    const answer a = ask(socket_name, queries.data(), m, dim, k);
    const double service_s = seconds_since(start);
    check_shape(a, m, k, ds.rows, workers);
    start = clock_type::now();
    std::vector<std::pair<std::uint64_t, double>> truth;
    {
        std::shared_lock reading(ds.lock());
        truth = brute_force(ds.matrix.data(), ds.rows, dim, queries.data(), m, k);
    }
    const double brute_s = seconds_since(start);

    const double tolerance = 1e-4;
    double worst = 0;
    std::size_t agree = 0, found_own = 0;
    for (std::size_t q = 0; q < m; ++q)
        for (std::size_t j = 0; j < k; ++j) {
            const hit& h = a.hits[q * k + j];
            const double exact = exact_score(ds.matrix.data(), dim, h.row, &queries[q * dim]);
            const double diff =
                std::max(std::fabs(h.score - truth[q * k + j].second), std::fabs(h.score - exact));
            worst = std::max(worst, diff);
            if (diff <= tolerance) ++agree;
            if (j == 0 && own_row[q] == h.row && std::fabs(h.score - 1.0) <= tolerance) ++found_own;
        }
    std::printf(
        "check: %zu queries (%zu of them rows rewritten while serving) answered by "
        "worker %u in %.2f s;\n  brute force by the master (double, every row) in "
        "%.2f s: %zu of %zu hits agree (largest score difference %.1e);\n  rewritten "
        "rows found first with score 1: %zu of %zu\n",
        m, rewritten, a.header.worker, service_s, brute_s, agree, m * k, worst, found_own,
        rewritten);
    if (agree != m * k)
        failures.push_back("check: " + std::to_string(m * k - agree) +
                           " hits differ from the brute-force answer");
    if (found_own != rewritten)
        failures.push_back("check: " + std::to_string(rewritten - found_own) +
                           " rewritten rows were not found first: the workers do not see the "
                           "rewrites");
}

struct round_result {
    std::size_t workers = 0;
    double requests_per_s = 0, queries_per_s = 0, p50 = 0, p90 = 0, p99 = 0;
    memory_outcome memory;
    bool ok = false;
};

round_result run_round(const options& o, dataset& ds, std::size_t workers, std::size_t round,
                       std::vector<std::string>& failures) {
    const std::size_t failures_before = failures.size();
    round_result res;
    res.workers = workers;
    const std::size_t concurrency = o.concurrency ? o.concurrency : workers;
    for (std::size_t i = 0; i < max_workers * fields; ++i) ds.stats[i].store(0);
    const std::string socket_name = ds.n.matrix + "_r" + std::to_string(round);

    auto start = clock_type::now();
    worker_group group(workers, ds.n, socket_name);
    group.wait_attached(ds.stats);
    std::printf("\n--- %zu worker%s (pids", workers, workers == 1 ? "" : "s");
    for (const pid_t p : group.pids()) std::printf(" %d", static_cast<int>(p));
    std::printf(
        ") forked and attached to the matrix by name in %.3f s, all accepting on "
        "@%s ---\n",
        seconds_since(start), socket_name.c_str());

    std::printf(
        "load: %zu requests of %zu queries (k = %zu), at most %zu in flight; "
        "%zu rewrites of %zu rows while serving\n",
        o.requests, o.batch, o.k, concurrency, o.updates, o.update_rows);
    std::fflush(stdout);
    load_report load = run_load(o, ds, workers, concurrency, socket_name, round);
    std::sort(load.latencies.begin(), load.latencies.end());
    const auto n_req = static_cast<double>(load.latencies.size());
    res.requests_per_s = n_req / load.seconds;
    res.queries_per_s = res.requests_per_s * static_cast<double>(o.batch);
    res.p50 = percentile(load.latencies, 0.50);
    res.p90 = percentile(load.latencies, 0.90);
    res.p99 = percentile(load.latencies, 0.99);
    const double scan = load.total_scan / n_req;
    std::printf("  done in %.2f s: %.2f requests/s = %.1f queries/s\n", load.seconds,
                res.requests_per_s, res.queries_per_s);
    std::printf("  latency: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", res.p50 * 1e3,
                res.p90 * 1e3, res.p99 * 1e3, load.latencies.back() * 1e3);
    std::printf(
        "  a worker's scan (wall time; %zu workers share %u CPUs): %.1f ms per request "
        "= %.2f ms per query,\n  the matrix read at %.2f GB/s per worker\n",
        workers, std::thread::hardware_concurrency(), scan * 1e3,
        scan * 1e3 / static_cast<double>(o.batch),
        static_cast<double>(ds.rows * ds.dim * sizeof(float)) / scan / 1e9);
    if (!load.rewrites.empty()) {
        double wait = 0, hold = 0;
        std::size_t serving = 0;
        for (const auto& w : load.rewrites) {
            wait = std::max(wait, w.wait_seconds);
            hold = std::max(hold, w.hold_seconds);
            serving += w.while_serving;
        }
        std::printf(
            "  rewrites: %zu (%zu while requests were in flight); the writer waited up "
            "to %.1f ms for the scans inside,\n  held the lock up to %.2f ms; scans "
            "waited up to %.1f ms behind it\n",
            load.rewrites.size(), serving, wait * 1e3, hold * 1e3, load.max_lock_wait * 1e3);
    }
    std::printf("  requests served per worker:");
    bool all_served = true, counts_agree = true;
    for (std::size_t w = 0; w < workers; ++w) {
        const std::uint64_t counted = ds.stats[w * fields + served_requests].load();
        std::printf(" %llu", static_cast<unsigned long long>(load.by_worker[w]));
        all_served &= load.by_worker[w] > 0;
        counts_agree &= counted == load.by_worker[w];
    }
    std::printf("\n");
    if (load.latencies.size() != o.requests)
        failures.push_back("load: " + std::to_string(load.latencies.size()) + " of " +
                           std::to_string(o.requests) + " requests answered");
    if (!all_served) failures.push_back("load: a worker served no request");
    if (!counts_agree) failures.push_back("load: the workers' own counts differ from the client's");

    res.memory = report_memory(o, ds, group.pids(), failures);
    check_answers(o, ds, load.rewrites, workers, socket_name, round, failures);

    start = clock_type::now();
    const bool clean = group.stop();
    std::printf("shutdown: %zu workers stopped and reaped in %.3f s%s\n", workers,
                seconds_since(start), clean ? "" : " (NOT ALL CLEANLY)");
    if (!clean) failures.push_back("shutdown: a worker failed or had to be killed");
    res.ok = failures.size() == failures_before;
    return res;
}

/// Removes the named arrays at the end, whatever happened (ignoring names already gone).
struct remove_arrays {
    const names& n;
    ~remove_arrays() {
        for (const std::string* name : {&n.matrix, &n.lock, &n.stats}) try {
                shmpool::shared_array<std::uint8_t>::remove(*name);
            } catch (const std::exception&) {
            }
    }
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "shmpool dataset_service demo: a read-only matrix loaded once into shared memory, N "
        "pre-forked workers answering batched top-k similarity queries over a local socket, "
        "rows rewritten in place under a reader-writer lock, and the sum of PSS staying one "
        "copy of the matrix"};
    options o;
    app.add_option("--rows", o.rows, "rows of the matrix (feature vectors)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 36))
        ->capture_default_str();
    app.add_option("--dim", o.dim, "float32 values per row")
        ->check(CLI::Range(1, 65536))
        ->capture_default_str();
    app.add_option("--workers", o.workers, "worker processes")
        ->check(CLI::Range(std::size_t{1}, max_workers))
        ->capture_default_str();
    app.add_option("--requests", o.requests, "requests the client sends (per N with --sweep)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--batch", o.batch, "query vectors per request (an m x dim matrix)")
        ->check(CLI::Range(std::size_t{1}, max_batch))
        ->capture_default_str();
    app.add_option("-k", o.k, "most similar rows returned per query")
        ->check(CLI::Range(std::size_t{1}, max_k))
        ->capture_default_str();
    app.add_option("--concurrency", o.concurrency,
                   "client threads, hence requests in flight at most (0: one per worker)")
        ->check(CLI::Range(0, 256))
        ->capture_default_str();
    app.add_option("--updates", o.updates, "in-place rewrites while the workers serve")
        ->capture_default_str();
    app.add_option("--update-rows", o.update_rows, "rows per rewrite")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--checks", o.checks, "queries checked against a brute-force scan")
        ->check(CLI::Range(std::size_t{0}, max_batch))
        ->capture_default_str();
    app.add_option("--pss-tolerance", o.pss_tolerance,
                   "allowed excess of the sum of PSS over one matrix (fraction)")
        ->check(CLI::Range(0.0, 10.0))
        ->capture_default_str();
    app.add_flag("--sweep", o.sweep,
                 "run with 1, 2, 4 and 8 workers and tabulate (ignores "
                 "--workers)");
    CLI11_PARSE(app, argc, argv);

    const std::vector<std::size_t> counts =
        o.sweep ? std::vector<std::size_t>{1, 2, 4, 8} : std::vector<std::size_t>{o.workers};
    const std::size_t most = *std::max_element(counts.begin(), counts.end());
    std::string usage;
    if (o.requests < most)
        usage = "--requests must be at least the number of workers (" + std::to_string(most) +
                ") for each to serve";
    else if (o.k > o.rows)
        usage = "-k cannot exceed --rows";
    if (!usage.empty()) {
        std::fprintf(stderr, "dataset_service: %s\n", usage.c_str());
        return 2;
    }

    o.update_rows = std::min(o.update_rows, o.rows);
    const auto start_all = clock_type::now();
    const std::string base = "shmpool_dataset_" + std::to_string(::getpid());
    const names n{base + "_matrix", base + "_lock", base + "_stats"};
    std::vector<std::string> failures;
    std::vector<round_result> results;
    {
        const remove_arrays cleanup{n};
        try {
            dataset ds{n, {}, {}, {}, o.rows, o.dim, 0};
            const double bytes = static_cast<double>(o.rows * o.dim * sizeof(float));
            auto start = clock_type::now();
            ds.matrix = shmpool::shared_array<float>::create(n.matrix, {o.rows, o.dim});
            load_matrix(ds.matrix.data(), o.rows, o.dim);
            std::printf(
                "master %d: loaded a %zu x %zu float32 matrix (%.1f MB) into /dev/shm/%s "
                "in %.2f s\n",
                static_cast<int>(::getpid()), o.rows, o.dim, mb(bytes), n.matrix.c_str(),
                seconds_since(start));

            ds.lock_bytes = shmpool::shared_array<std::uint8_t>::create(
                n.lock, {sizeof(shmpool::shared_rwlock)});
            if (reinterpret_cast<std::uintptr_t>(ds.lock_bytes.data()) %
                    alignof(shmpool::shared_rwlock) !=
                0)
                throw std::runtime_error("the lock segment's data is not aligned for the lock");
            new (ds.lock_bytes.data()) shmpool::shared_rwlock;
            ds.stats = shmpool::raw_array<std::uint64_t>::create(n.stats, max_workers * fields);
            std::printf(
                "master: a shared_rwlock (%zu bytes) in /dev/shm/%s, per-worker "
                "counters in /dev/shm/%s\n",
                sizeof(shmpool::shared_rwlock), n.lock.c_str(), n.stats.c_str());

            for (std::size_t r = 0; r < counts.size(); ++r)
                results.push_back(run_round(o, ds, counts[r], r, failures));

            ds.lock().~shared_rwlock();
            shmpool::shared_array<float>::remove(n.matrix);
            shmpool::shared_array<std::uint8_t>::remove(n.lock);
            shmpool::raw_array<std::uint64_t>::remove(n.stats);
            try {  // the seed: attaching to a name that is gone must fail clearly
                shmpool::shared_array<float>::open(n.matrix);
                failures.push_back("cleanup: the matrix can still be opened after removal");
            } catch (const shmpool::not_found_error& e) {
                std::printf(
                    "\ncleanup: arrays removed; opening the matrix now fails as it "
                    "should:\n  %s\n",
                    e.what());
            }
        } catch (const std::exception& e) {
            failures.push_back(std::string("error: ") + e.what());
        }
    }

    if (o.sweep && !results.empty()) {
        std::printf("\nsweep: %zu x %zu float32 = %.1f MB, %zu requests of %zu queries per N\n",
                    o.rows, o.dim, mb(static_cast<double>(o.rows * o.dim * sizeof(float))),
                    o.requests, o.batch);
        std::printf("  %7s %10s %10s %9s %9s %11s %11s %11s %11s %6s\n", "workers", "requests/s",
                    "queries/s", "p50 ms", "p99 ms", "sum RSS MB", "sum PSS MB", "PSS/matrix",
                    "matrix PSS", "check");
        for (const auto& r : results)
            std::printf("  %7zu %10.2f %10.1f %9.1f %9.1f %11.1f %11.1f %11.3f %11.1f %6s\n",
                        r.workers, r.requests_per_s, r.queries_per_s, r.p50 * 1e3, r.p99 * 1e3,
                        kb_to_mb(r.memory.rss_sum_kb), kb_to_mb(r.memory.pss_sum_kb),
                        r.memory.pss_over_matrix, kb_to_mb(r.memory.matrix_pss_sum_kb),
                        r.ok ? "ok" : "FAILED");
        std::printf(
            "  sums over the master and its workers. RSS counts the matrix once per "
            "process; PSS divides each\n  page among its mappers, so its sum stays one "
            "matrix (\"matrix PSS\": the matrix's own pages)\n  plus each process's "
            "private few MB.\n");
    }

    std::printf("\n%s in %.1f s\n", failures.empty() ? "OK" : "FAILED", seconds_since(start_all));
    for (const auto& f : failures) std::printf("  %s\n", f.c_str());
    return failures.empty() ? 0 : 1;
}
