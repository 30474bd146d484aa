// The book's shared numpy array ("High Performance Python", ch. 9) across hosts, on MPI
// (ch. 10): a ROWS x COLS float64 array whose rows are spread over the hosts, each host's
// block a named shared array (NAME@hostHofN in /dev/shm or SHMPOOL_SHM_DIR, which numpy maps).
// Each host's ranks fill their rows with 42 in their pools; then every worker checks that its
// rows still hold 42 and writes its PID over them, in place. Rank 0 gathers which PID of which
// host wrote how many rows, and each host's proof that its processes hold one copy of its
// block (sum of PSS = the block), measured while the workers are alive.
//
//   mpirun --bind-to none -n 4 --host node1:2,node2:2 ./np_shared_mpi [--rows R] [--cols C]
//   scripts/mpi/simulated-hosts --hosts a:2,b:2 ./build/release/demos/np_shared_mpi
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <shmpool/memory.hpp>
#include <shmpool/mpi.hpp>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct options {
    std::size_t rows = 10000, cols = 80000, workers = 0;
    std::string name = "np_shared_mpi";
};

// What a host's leader measured of its block while the workers were alive.
struct host_proof {
    int host = -1;  // -1: not a host's leader
    std::size_t processes = 0;
    std::uint64_t pss_kb = 0, resident_kb = 0, block_kb = 0;
    bool one_copy = false;
    char host_name[64] = {};
};

// Which worker wrote a row, and whether the row held 42 in full before.
struct row_mark {
    long pid;
    bool was_42;
};

host_proof measure_block(shmpool::mpi::cluster& c, const shmpool::mpi::row_array<double>& a) {
    host_proof p;
    if (c.rank_on_host() != 0) return p;
    p.host = c.host();
    c.host_name().copy(p.host_name, sizeof p.host_name - 1);
    p.block_kb = a.block().size() * sizeof(double) / 1024;
    const shmpool::memory_report r = shmpool::inspect_memory_of_segment(a.block().name());
    p.processes = r.processes.size();
    for (const shmpool::segment_memory& s : r.segments) {
        if (s.name != a.block().path() && s.mapped_as != a.block().path()) continue;
        p.pss_kb = s.pss_sum_kb;
        p.resident_kb = s.resident_kb;
        p.one_copy = s.one_copy;
    }
    return p;
}

// Rank 0: rows written by each (host, PID), and whether every row was 42 and by its host.
bool report_rows(const std::vector<row_mark>& marks, const std::map<long, int>& host_of_pid) {
    std::map<std::pair<int, long>, std::size_t> count;
    std::size_t not_42 = 0, strangers = 0;
    for (const row_mark& m : marks) {
        const auto it = host_of_pid.find(m.pid);
        if (it == host_of_pid.end()) ++strangers;
        ++count[{it == host_of_pid.end() ? -1 : it->second, m.pid}];
        if (!m.was_42) ++not_42;
    }
    std::printf("\nrows written, by host and worker PID:\n%6s %10s %10s\n", "host", "PID", "rows");
    for (const auto& [who, n] : count) std::printf("%6d %10ld %10zu\n", who.first, who.second, n);
    std::printf("rows that did not hold 42 before: %zu; rows written by no worker of the "
                "cluster: %zu\n", not_42, strangers);
    return not_42 == 0 && strangers == 0;
}

bool report_proofs(const std::vector<host_proof>& proofs) {
    bool ok = true;
    std::printf("\none copy per host (/proc/PID/smaps, measured on each host while its workers "
                "map the block):\n%6s %-16s %10s %14s %14s %14s  %s\n", "host", "name", "processes",
                "block kB", "resident kB", "sum of PSS kB", "verdict");
    for (const host_proof& p : proofs) {
        if (p.host < 0) continue;
        std::printf("%6d %-16s %10zu %14llu %14llu %14llu  %s\n", p.host, p.host_name, p.processes,
                    static_cast<unsigned long long>(p.block_kb),
                    static_cast<unsigned long long>(p.resident_kb),
                    static_cast<unsigned long long>(p.pss_kb), p.one_copy ? "one copy" : "NOT one copy");
        ok = ok && p.one_copy;
    }
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"np_shared_mpi: the book's shared array, its rows spread over the hosts of an "
                 "MPI job, each host's block written in place by its pools"};
    app.add_option("--rows", o.rows, "rows of the whole array")->capture_default_str();
    app.add_option("--cols", o.cols, "columns (float64)")->capture_default_str();
    app.add_option("--workers", o.workers, "workers per rank (0: the host's CPUs / its ranks)")
        ->capture_default_str();
    app.add_option("--name", o.name, "the array's name (blocks: NAME@hostHofN)")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    shmpool::mpi::cluster c(argc, argv, {.workers = o.workers});
    const bool root = c.rank() == 0;
    if (root)
        std::printf("np_shared_mpi: %zu x %zu float64 (%.2f GB) over %d hosts, %d ranks, %zu "
                    "workers on rank 0\n", o.rows, o.cols, o.rows * o.cols * 8 / 1e9, c.hosts(),
                    c.size(), c.pool().size());
    auto start = clock_type::now();
    auto a = shmpool::mpi::row_array<double>::create(c, o.name, {o.rows, o.cols});
    const double create_s = seconds_since(start);
    start = clock_type::now();
    shmpool::mpi::for_each_row(c, a, [a](std::size_t r) { a.row(r).fill(42.0); });
    const double fill_s = seconds_since(start);
    start = clock_type::now();
    const std::vector<row_mark> marks = shmpool::mpi::map(c, a, [a](std::size_t r) {
        auto row = a.row(r);
        const bool was_42 = std::all_of(row.begin(), row.end(), [](double v) { return v == 42.0; });
        const long pid = ::getpid();
        row.fill(static_cast<double>(pid));
        return row_mark{pid, was_42};
    });
    const double write_s = seconds_since(start);
    const std::vector<host_proof> proofs = shmpool::mpi::gather(c, measure_block(c, a));

    std::vector<long> pids;  // this rank's workers, to tell which host wrote a row
    for (int p : c.pool().worker_pids()) pids.push_back(p);
    const auto pids_of_rank = shmpool::mpi::gather(c, pids);
    const auto host_of_rank = shmpool::mpi::gather(c, c.host());
    if (!root) return 0;
    std::map<long, int> host_of_pid;
    for (std::size_t k = 0; k < pids_of_rank.size(); ++k)
        for (long p : pids_of_rank[k]) host_of_pid[p] = host_of_rank[k];
    std::printf("create %.2f s, fill with 42 %.2f s, check and write PIDs %.2f s\n", create_s,
                fill_s, write_s);
    const bool rows_ok = report_rows(marks, host_of_pid);
    const bool proof_ok = report_proofs(proofs);
    std::printf("\n%s\n", rows_ok && proof_ok ? "OK" : "FAILED");
    return rows_ok && proof_ok ? 0 : 1;
}
