// demos/dataset_service/http: GET /health and GET /stats (handlers.hpp), and the latency
// histogram (service.hpp). /stats reads every worker's counters from the shared stats array
// and the memory of the master and its workers from /proc (shmpool::inspect_memory): the sum
// of PSS against the matrix's bytes is the proof that N workers hold one copy.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <shmpool/memory.hpp>

#include "handlers.hpp"

namespace dataset_service::http {

using ojson = nlohmann::ordered_json;

std::size_t latency_bucket(double microseconds) {
    if (!(microseconds >= 1)) return 0;
    const auto b = static_cast<std::size_t>(4 * std::log2(microseconds));
    return std::min(b, hist_buckets - 1);
}

double latency_percentile(const shmpool::raw_array<std::uint64_t>& stats, std::size_t workers,
                          double fraction) {
    std::vector<std::uint64_t> sum(hist_buckets);
    std::uint64_t total = 0;
    for (std::size_t s = 0; s < workers; ++s)
        for (std::size_t b = 0; b < hist_buckets; ++b) {
            sum[b] += stats[slot_at(s, histogram + b)].load();
            total += stats[slot_at(s, histogram + b)].load();
        }
    if (total == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < hist_buckets; ++b) {
        seen += sum[b];
        if (seen >= std::max<std::uint64_t>(rank, 1))
            return std::exp2((static_cast<double>(b) + 0.5) / 4) / 1000;  // us -> ms
    }
    return std::exp2(static_cast<double>(hist_buckets) / 4) / 1000;
}

void record_latency(const worker_context& ctx, double microseconds) {
    ctx.stats[slot_at(ctx.slot, histogram + latency_bucket(microseconds))].fetch_add(1);
    ctx.stats[slot_at(ctx.slot, slot_topk)].fetch_add(1);
}

nlohmann::ordered_json health_json(const worker_context& ctx) {
    return {{"status", "ok"},         {"rows", ctx.rows()},
            {"dim", ctx.dim()},       {"workers", ctx.workers},
            {"matrix", ctx.n.matrix}, {"matrix_path", matrix_path(ctx.n, ctx.so)},
            {"worker", ctx.slot},     {"pid", ::getpid()}};
}

namespace {

ojson workers_json(const worker_context& ctx, std::vector<pid_t>& pids) {
    ojson list = ojson::array();
    for (std::size_t s = 0; s < ctx.workers; ++s) {
        const auto pid = static_cast<pid_t>(ctx.stats[slot_at(s, slot_pid)].load());
        pids.push_back(pid);
        list.push_back({{"slot", s},
                        {"pid", pid},
                        {"served", ctx.stats[slot_at(s, slot_served)].load()},
                        {"errors", ctx.stats[slot_at(s, slot_errors)].load()},
                        {"topk", ctx.stats[slot_at(s, slot_topk)].load()},
                        {"restarts", ctx.stats[slot_at(s, slot_restarts)].load()}});
    }
    return list;
}

ojson latency_json(const worker_context& ctx) {
    std::uint64_t count = 0;
    for (std::size_t s = 0; s < ctx.workers; ++s) count += ctx.stats[slot_at(s, slot_topk)].load();
    return {{"count", count},
            {"p50", latency_percentile(ctx.stats, ctx.workers, 0.50)},
            {"p90", latency_percentile(ctx.stats, ctx.workers, 0.90)},
            {"p99", latency_percentile(ctx.stats, ctx.workers, 0.99)}};
}

/// Every process's RSS/PSS/USS, their sums, and the matrix's own pages against its bytes.
ojson memory_json(const worker_context& ctx, const std::vector<pid_t>& pids) {
    const shmpool::memory_report mem = shmpool::inspect_memory(pids);
    ojson procs = ojson::array();
    std::uint64_t rss = 0, pss = 0, uss = 0;
    for (std::size_t i = 0; i < mem.processes.size(); ++i) {
        const auto& p = mem.processes[i];
        procs.push_back({{"role", p.pid == pids[0] ? "master" : "worker"},
                         {"pid", p.pid},
                         {"rss_kb", p.total.rss_kb},
                         {"pss_kb", p.total.pss_kb},
                         {"uss_kb", p.total.uss_kb}});
        rss += p.total.rss_kb;
        pss += p.total.pss_kb;
        uss += p.total.uss_kb;
    }
    const double matrix_bytes = static_cast<double>(ctx.rows() * ctx.dim() * sizeof(float));
    ojson out = {{"processes", std::move(procs)},
                 {"rss_sum_kb", rss},
                 {"pss_sum_kb", pss},
                 {"uss_sum_kb", uss},
                 {"matrix_bytes", ctx.rows() * ctx.dim() * sizeof(float)},
                 {"pss_sum_over_matrix", static_cast<double>(pss) * 1024.0 / matrix_bytes},
                 {"read_seconds", mem.read_seconds}};
    for (const auto& seg : mem.segments)
        if (seg.name == matrix_path(ctx.n, ctx.so)) {
            out["matrix_pss_sum_kb"] = seg.pss_sum_kb;
            out["matrix_resident_kb"] = seg.resident_kb;
            out["matrix_verdict"] = seg.verdict;
        }
    return out;
}

}  // namespace

nlohmann::ordered_json stats_json(const worker_context& ctx) {
    std::vector<pid_t> pids{static_cast<pid_t>(ctx.stats[master_pid].load())};
    ojson workers = workers_json(ctx, pids);
    std::uint64_t served = 0;
    for (const auto& w : workers) served += w["served"].get<std::uint64_t>();
    std::erase(pids, pid_t{0});
    ojson memory;
    try {
        memory = memory_json(ctx, pids);
    } catch (const std::exception& e) {  // a worker being replaced: say so, keep the rest
        memory = {{"error", e.what()}};
    }
    return {{"served", served},
            {"matrix_version", ctx.stats[matrix_version].load()},
            {"workers", std::move(workers)},
            {"latency_ms", latency_json(ctx)},
            {"memory", std::move(memory)}};
}

}  // namespace dataset_service::http
