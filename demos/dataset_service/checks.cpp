// demos/dataset_service: the self-checks of a round (checks.hpp): the memory of the master and
// its workers, and the service's answers against a brute-force scan.
#include "checks.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <shared_mutex>

#include "kernels.hpp"

namespace dataset_service {
namespace {

constexpr std::uint64_t allowance_kb = 16 * 1024;  // per process: code, heap, stacks

/// The matrix's own pages in process `p`: resident and proportional, in kB.
std::pair<std::uint64_t, std::uint64_t> matrix_kb_of(const shmpool::process_memory& p,
                                                     const shmpool::segment_memory& seg) {
    std::uint64_t rss = 0, pss = 0;
    for (const auto& map : p.mappings)
        if (map.inode == seg.inode && map.dev_id == seg.dev_id) {
            rss += map.rss_kb;
            pss += map.pss_kb;
        }
    return {rss, pss};
}

/// Prints one line per process (the master first, then the workers) and sums their RSS and PSS.
memory_outcome print_processes(const dataset& ds, const shmpool::memory_report& mem,
                               const shmpool::segment_memory& seg) {
    std::printf("memory (from /proc/PID/smaps, read in %.2f s; MB = 10^6 bytes):\n",
                mem.read_seconds);
    std::printf("  %-10s %8s %7s %10s %10s %10s %12s %12s\n", "process", "pid", "served", "RSS MB",
                "PSS MB", "USS MB", "matrix RSS", "matrix PSS");
    memory_outcome out;
    for (std::size_t i = 0; i < mem.processes.size(); ++i) {
        const auto& p = mem.processes[i];
        const auto [m_rss, m_pss] = matrix_kb_of(p, seg);
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
    return out;
}

/// The matrix's pages add up to one matrix, and the sum of PSS to one matrix plus allowances.
void check_pss(const options& o, const memory_outcome& out, const shmpool::segment_memory& seg,
               double matrix_bytes, std::size_t processes, std::vector<std::string>& failures) {
    const double seg_pss = static_cast<double>(seg.pss_sum_kb) * 1024.0;
    if (std::fabs(seg_pss - matrix_bytes) > o.pss_tolerance * matrix_bytes)
        failures.push_back(
            "memory: the matrix's pages add up to " + fixed(kb_to_mb(seg.pss_sum_kb), 3) +
            " MB of PSS = " + fixed(100 * seg_pss / matrix_bytes, 2) + "% of one matrix, beyond " +
            "the tolerance of " + fixed(o.pss_tolerance * 100, 0) + "%");
    const double limit =
        (1 + o.pss_tolerance) * matrix_bytes + static_cast<double>(allowance_kb * 1024 * processes);
    if (static_cast<double>(out.pss_sum_kb) * 1024.0 > limit)
        failures.push_back("memory: the sum of PSS, " + fixed(kb_to_mb(out.pss_sum_kb)) +
                           " MB, exceeds one matrix + " + fixed(o.pss_tolerance * 100, 0) +
                           "% + 16 MB per process (" + fixed(mb(limit)) + " MB)");
}

}  // namespace

memory_outcome report_memory(const options& o, const dataset& ds, const std::vector<pid_t>& workers,
                             std::vector<std::string>& failures) {
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

    memory_outcome out = print_processes(ds, mem, *seg);
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
    check_pss(o, out, *seg, matrix_bytes, pids.size(), failures);
    return out;
}

namespace {

/// The queries of the check: the first `rewritten` are rows of the last rewrite (own_row says
/// which), the others fresh vectors.
struct check_queries {
    std::vector<float> queries;
    std::vector<std::uint64_t> own_row;
    std::size_t rewritten = 0;
};

check_queries make_check_queries(std::size_t m, std::size_t dim,
                                 const std::vector<rewrite>& rewrites, std::size_t round) {
    check_queries c{std::vector<float>(m * dim),
                    std::vector<std::uint64_t>(m, std::numeric_limits<std::uint64_t>::max()), 0};
    if (!rewrites.empty()) {
        const rewrite& last = rewrites.back();
        c.rewritten = std::min((m + 1) / 2, last.count);
        for (std::size_t q = 0; q < c.rewritten; ++q) {
            c.own_row[q] = last.first_row + q * last.count / c.rewritten;
            make_row(c.queries.data() + q * dim, dim, c.own_row[q], last.version);
        }
    }
    for (std::size_t q = c.rewritten; q < m; ++q)
        make_row(c.queries.data() + q * dim, dim, query_id(round, (std::uint64_t{1} << 35) + q), 0);
    return c;
}

/// How the service's hits compare with the brute-force scan.
struct agreement {
    std::size_t agree = 0, found_own = 0;
    double worst = 0;  // the largest score difference
};

agreement compare(const dataset& ds, const check_queries& c, const answer& a,
                  const std::vector<std::pair<std::uint64_t, double>>& truth, std::size_t m,
                  std::size_t k) {
    const double tolerance = 1e-4;
    agreement out;
    for (std::size_t q = 0; q < m; ++q)
        for (std::size_t j = 0; j < k; ++j) {
            const hit& h = a.hits[q * k + j];
            const double exact =
                exact_score(ds.matrix.data(), ds.dim, h.row, &c.queries[q * ds.dim]);
            const double diff =
                std::max(std::fabs(h.score - truth[q * k + j].second), std::fabs(h.score - exact));
            out.worst = std::max(out.worst, diff);
            if (diff <= tolerance) ++out.agree;
            if (j == 0 && c.own_row[q] == h.row && std::fabs(h.score - 1.0) <= tolerance)
                ++out.found_own;
        }
    return out;
}

}  // namespace

void check_answers(const options& o, dataset& ds, const std::vector<rewrite>& rewrites,
                   std::size_t workers, const std::string& socket_name, std::size_t round,
                   std::vector<std::string>& failures) {
    if (o.checks == 0) return;
    const std::size_t m = o.checks, k = o.k, dim = ds.dim;
    const check_queries c = make_check_queries(m, dim, rewrites, round);

    auto start = clock_type::now();
    const answer a = ask(socket_name, c.queries.data(), m, dim, k);
    const double service_s = seconds_since(start);
    check_shape(a, m, k, ds.rows, workers);
    start = clock_type::now();
    std::vector<std::pair<std::uint64_t, double>> truth;
    {
        std::shared_lock reading(ds.lock());
        truth = brute_force(ds.matrix.data(), ds.rows, dim, c.queries.data(), m, k);
    }
    const double brute_s = seconds_since(start);

    const agreement r = compare(ds, c, a, truth, m, k);
    std::printf(
        "check: %zu queries (%zu of them rows rewritten while serving) answered by "
        "worker %u in %.2f s;\n  brute force by the master (double, every row) in "
        "%.2f s: %zu of %zu hits agree (largest score difference %.1e);\n  rewritten "
        "rows found first with score 1: %zu of %zu\n",
        m, c.rewritten, a.header.worker, service_s, brute_s, r.agree, m * k, r.worst, r.found_own,
        c.rewritten);
    if (r.agree != m * k)
        failures.push_back("check: " + std::to_string(m * k - r.agree) +
                           " hits differ from the brute-force answer");
    if (r.found_own != c.rewritten)
        failures.push_back("check: " + std::to_string(c.rewritten - r.found_own) +
                           " rewritten rows were not found first: the workers do not see the "
                           "rewrites");
}

}  // namespace dataset_service
