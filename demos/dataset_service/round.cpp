// demos/dataset_service: one round with N workers, and the sweep's table (round.hpp).
#include "round.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "client.hpp"
#include "workers.hpp"

namespace dataset_service {
namespace {

double percentile(const std::vector<double>& sorted, double p) {  // nearest rank
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

void print_started(const worker_group& group, std::size_t workers, const std::string& socket_name,
                   clock_type::time_point start) {
    std::printf("\n--- %zu worker%s (pids", workers, workers == 1 ? "" : "s");
    for (const pid_t p : group.pids()) std::printf(" %d", static_cast<int>(p));
    std::printf(
        ") forked and attached to the matrix by name in %.3f s, all accepting on "
        "@%s ---\n",
        seconds_since(start), socket_name.c_str());
}

/// The throughput and latency of the load (its latencies sorted here), printed and kept.
void summarize_load(const options& o, const dataset& ds, std::size_t workers, load_report& load,
                    round_result& res) {
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
}

void print_rewrites(const load_report& load) {
    if (load.rewrites.empty()) return;
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

/// Every request answered and the workers' counts agree with the client's. Which worker takes
/// a connection is the kernel's choice (they all wait in accept()): with few requests per worker
/// some may serve none, which is reported, not failed.
void check_served(const options& o, const dataset& ds, std::size_t workers, const load_report& load,
                  std::vector<std::string>& failures) {
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
    if (!all_served)
        std::printf(
            "  note: some workers served no request (the kernel hands connections to "
            "whichever waits in accept(); more --requests spread them)\n");
    if (!counts_agree) failures.push_back("load: the workers' own counts differ from the client's");
}

}  // namespace

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
    print_started(group, workers, socket_name, start);

    std::printf(
        "load: %zu requests of %zu queries (k = %zu), at most %zu in flight; "
        "%zu rewrites of %zu rows while serving\n",
        o.requests, o.batch, o.k, concurrency, o.updates, o.update_rows);
    std::fflush(stdout);
    load_report load = run_load(o, ds, workers, concurrency, socket_name, round);
    summarize_load(o, ds, workers, load, res);
    print_rewrites(load);
    check_served(o, ds, workers, load, failures);

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

void print_sweep(const options& o, const std::vector<round_result>& results) {
    std::printf("\nsweep: %zu x %zu float32 = %.1f MB, %zu requests of %zu queries per N\n", o.rows,
                o.dim, mb(static_cast<double>(o.rows * o.dim * sizeof(float))), o.requests,
                o.batch);
    std::printf("  %7s %10s %10s %9s %9s %11s %11s %11s %11s %6s\n", "workers", "requests/s",
                "queries/s", "p50 ms", "p99 ms", "sum RSS MB", "sum PSS MB", "PSS/matrix",
                "matrix PSS", "check");
    for (const auto& r : results)
        std::printf("  %7zu %10.2f %10.1f %9.1f %9.1f %11.1f %11.1f %11.3f %11.1f %6s\n", r.workers,
                    r.requests_per_s, r.queries_per_s, r.p50 * 1e3, r.p99 * 1e3,
                    kb_to_mb(r.memory.rss_sum_kb), kb_to_mb(r.memory.pss_sum_kb),
                    r.memory.pss_over_matrix, kb_to_mb(r.memory.matrix_pss_sum_kb),
                    r.ok ? "ok" : "FAILED");
    std::printf(
        "  sums over the master and its workers. RSS counts the matrix once per "
        "process; PSS divides each\n  page among its mappers, so its sum stays one "
        "matrix (\"matrix PSS\": the matrix's own pages)\n  plus each process's "
        "private few MB.\n");
}

}  // namespace dataset_service
