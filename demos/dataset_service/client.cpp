// demos/dataset_service: the client side (client.hpp): one request, the checks of its answer's
// shape, and the load generator with its in-place rewrites.
#include "client.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kernels.hpp"

namespace dataset_service {

answer ask(const std::string& socket_name, const float* queries, std::size_t m, std::size_t dim,
           std::size_t k) {
    socket_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) throw_errno("socket");
    set_patience(s.get(), 120);  // a stuck worker fails the run instead of hanging it
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

std::uint64_t query_id(std::size_t round, std::uint64_t i) {
    return (std::uint64_t{1} << 48) + (static_cast<std::uint64_t>(round) << 36) + i;
}

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

namespace {

/// What the client threads and the rewriting thread of run_load share.
class load_run {
public:
    load_run(const options& o, dataset& ds, std::size_t workers, std::size_t concurrency,
             const std::string& socket_name, std::size_t round)
        : o_(o),
          ds_(ds),
          workers_(workers),
          socket_name_(socket_name),
          round_(round),
          running_(concurrency) {
        rep_.by_worker.assign(workers, 0);
    }

    /// One client thread: takes the next request until all are sent or one thread failed.
    void client() {
        try {
            std::vector<float> queries(o_.batch * ds_.dim);
            while (!stop_.load()) {
                const std::size_t i = next_.fetch_add(1);
                if (i >= o_.requests) break;
                send_request(i, queries);
            }
        } catch (...) {
            const std::lock_guard g(mu_);
            if (!failure_) failure_ = std::current_exception();
            stop_ = true;
        }
        running_.fetch_sub(1);
    }

    /// The rewrites, spread evenly over the requests (this thread, while the clients run).
    void rewrite_while_serving() {
        for (std::size_t u = 0; u < o_.updates && !stop_.load(); ++u) {
            const std::size_t due = (u + 1) * o_.requests / (o_.updates + 1);
            while (done_.load() < due && running_.load() > 0)
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            const bool serving = done_.load() < o_.requests && running_.load() > 0;
            rewrite w = rewrite_rows(ds_, o_.update_rows);
            w.while_serving = serving;
            rep_.rewrites.push_back(w);
        }
    }

    void stop() { stop_ = true; }
    load_report& report() { return rep_; }
    std::exception_ptr failure() const { return failure_; }

private:
    /// Request `i`: its batch of queries, sent, answered, checked and counted.
    void send_request(std::size_t i, std::vector<float>& queries) {
        for (std::size_t q = 0; q < o_.batch; ++q)
            make_row(queries.data() + q * ds_.dim, ds_.dim, query_id(round_, i * o_.batch + q), 0);
        const auto sent = clock_type::now();
        const answer a = ask(socket_name_, queries.data(), o_.batch, ds_.dim, o_.k);
        const double latency = seconds_since(sent);
        check_shape(a, o_.batch, o_.k, ds_.rows, workers_);
        const std::lock_guard g(mu_);
        rep_.latencies.push_back(latency);
        ++rep_.by_worker[a.header.worker];
        rep_.total_scan += a.header.scan_seconds;
        rep_.max_lock_wait = std::max(rep_.max_lock_wait, a.header.lock_wait_seconds);
        done_.fetch_add(1);
    }

    const options& o_;
    dataset& ds_;
    std::size_t workers_;
    const std::string& socket_name_;
    std::size_t round_;
    load_report rep_;
    std::atomic<std::size_t> next_{0}, done_{0}, running_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::exception_ptr failure_;
};

}  // namespace

load_report run_load(const options& o, dataset& ds, std::size_t workers, std::size_t concurrency,
                     const std::string& socket_name, std::size_t round) {
    load_run run(o, ds, workers, concurrency, socket_name, round);
    const auto start = clock_type::now();
    {
        std::vector<std::jthread> threads;
        try {
            for (std::size_t t = 0; t < concurrency; ++t)
                threads.emplace_back([&run] { run.client(); });
            run.rewrite_while_serving();
        } catch (...) {
            run.stop();
            throw;  // the threads are joined on the way out
        }
    }
    run.report().seconds = seconds_since(start);
    if (run.failure()) std::rethrow_exception(run.failure());
    return std::move(run.report());
}

}  // namespace dataset_service
