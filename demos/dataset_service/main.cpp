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
//
// The files: main.cpp (options, the dataset's creation and removal), kernels.* (the matrix's
// rows, the scan, the brute-force check), protocol.* (the wire protocol), workers.* (the
// server side), client.* (requests and the load generator), checks.* (memory and answers),
// round.* (one round with N workers, the sweep's table). http/ holds the --serve mode: the same
// matrix and scan behind an HTTP server (cpp-httplib) in pre-forked workers (http/serve.hpp),
// built when cpp-httplib is found.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "kernels.hpp"
#include "protocol.hpp"
#include "round.hpp"
#ifdef DATASET_SERVICE_HTTP
#include "http/serve.hpp"
#endif

using namespace dataset_service;

namespace {

void add_options(CLI::App& app, options& o) {
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
}

/// What the options cannot be together, or "".
std::string usage_problem(const options& o, std::size_t most_workers) {
    if (o.requests < most_workers)
        return "--requests must be at least the number of workers (" +
               std::to_string(most_workers) + ") for each to serve";
    if (o.k > o.rows) return "-k cannot exceed --rows";
    return {};
}

/// The master's part: the matrix loaded once, the lock and the counters beside it.
void create_dataset(const options& o, dataset& ds) {
    const names& n = ds.n;
    const double bytes = static_cast<double>(o.rows * o.dim * sizeof(float));
    const auto start = clock_type::now();
    ds.matrix = shmpool::shared_array<float>::create(n.matrix, {o.rows, o.dim});
    load_matrix(ds.matrix.data(), o.rows, o.dim);
    std::printf(
        "master %d: loaded a %zu x %zu float32 matrix (%.1f MB) into /dev/shm/%s in %.2f s\n",
        static_cast<int>(::getpid()), o.rows, o.dim, mb(bytes), n.matrix.c_str(),
        seconds_since(start));

    // Built before its name appears: a worker that opens it finds a constructed lock.
    ds.rwlock = shmpool::shared_object<shmpool::shared_rwlock>::create(n.lock);
    ds.stats = shmpool::raw_array<std::uint64_t>::create(n.stats, max_workers * fields);
    std::printf(
        "master: a shared_rwlock (%zu bytes) in /dev/shm/%s, per-worker "
        "counters in /dev/shm/%s\n",
        sizeof(shmpool::shared_rwlock), n.lock.c_str(), n.stats.c_str());
}

/// Removes the arrays; the seed's last check: attaching to a name that is gone must fail
/// clearly.
void remove_dataset(dataset& ds, std::vector<std::string>& failures) {
    const names& n = ds.n;
    shmpool::shared_array<float>::remove(n.matrix);
    shmpool::shared_object<shmpool::shared_rwlock>::remove(n.lock);
    shmpool::raw_array<std::uint64_t>::remove(n.stats);
    try {
        shmpool::shared_array<float>::open(n.matrix);
        failures.push_back("cleanup: the matrix can still be opened after removal");
    } catch (const shmpool::not_found_error& e) {
        std::printf(
            "\ncleanup: arrays removed; opening the matrix now fails as it "
            "should:\n  %s\n",
            e.what());
    }
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

/// Creates the dataset, runs a round for each number of workers in `counts`, removes it.
std::vector<round_result> run_all(const options& o, const names& n,
                                  const std::vector<std::size_t>& counts,
                                  std::vector<std::string>& failures) {
    std::vector<round_result> results;
    const remove_arrays cleanup{n};
    try {
        dataset ds{n, {}, {}, {}, o.rows, o.dim, 0};
        create_dataset(o, ds);
        for (std::size_t r = 0; r < counts.size(); ++r)
            results.push_back(run_round(o, ds, counts[r], r, failures));
        remove_dataset(ds, failures);
    } catch (const std::exception& e) {
        failures.push_back(std::string("error: ") + e.what());
    }
    return results;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "shmpool dataset_service demo: a read-only matrix loaded once into shared memory, N "
        "pre-forked workers answering batched top-k similarity queries over a local socket, "
        "rows rewritten in place under a reader-writer lock, and the sum of PSS staying one "
        "copy of the matrix"};
    app.option_defaults()->always_capture_default();  // --help shows the defaults
    options o;
    add_options(app, o);
#ifdef DATASET_SERVICE_HTTP
    http::serve_options so;
    http::add_serve_options(app, so);
    CLI11_PARSE(app, argc, argv);
    if (so.serve) return http::run_service(o, so);
#else
    CLI11_PARSE(app, argc, argv);
#endif

    const std::vector<std::size_t> counts =
        o.sweep ? std::vector<std::size_t>{1, 2, 4, 8} : std::vector<std::size_t>{o.workers};
    const std::string usage = usage_problem(o, *std::max_element(counts.begin(), counts.end()));
    if (!usage.empty()) {
        std::fprintf(stderr, "dataset_service: %s\n", usage.c_str());
        return 2;
    }

    o.update_rows = std::min(o.update_rows, o.rows);
    const auto start_all = clock_type::now();
    const std::string base = "shmpool_dataset_" + std::to_string(::getpid());
    const names n{base + "_matrix", base + "_lock", base + "_stats"};
    std::vector<std::string> failures;
    const std::vector<round_result> results = run_all(o, n, counts, failures);
    if (o.sweep && !results.empty()) print_sweep(o, results);

    std::printf("\n%s in %.1f s\n", failures.empty() ? "OK" : "FAILED", seconds_since(start_all));
    for (const auto& f : failures) std::printf("  %s\n", f.c_str());
    return failures.empty() ? 0 : 1;
}
