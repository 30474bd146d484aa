// demos/dataset_service: the client side. ask() sends one batch of queries and checks the
// answer's shape; run_load() is the built-in load generator, which rewrites rows in place under
// the writer lock while its client threads keep the workers busy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "protocol.hpp"

namespace dataset_service {

struct answer {
    reply_header header;
    std::vector<hit> hits;  // queries x k, best first for each query
};

/// Sends one batch of m queries and waits for the answer. Throws on any failure, with the
/// worker's own message when it refused the request.
answer ask(const std::string& socket_name, const float* queries, std::size_t m, std::size_t dim,
           std::size_t k);

/// Checks what any answer must be: rows of the matrix, distinct, finite scores best first.
void check_shape(const answer& a, std::size_t m, std::size_t k, std::size_t rows,
                 std::size_t workers);

/// The row number the generator uses for query `i` of round `round`: above every matrix row.
std::uint64_t query_id(std::size_t round, std::uint64_t i);

/// One in-place rewrite of consecutive rows.
struct rewrite {
    std::size_t first_row = 0, count = 0;
    std::uint64_t version = 0;
    double wait_seconds = 0, hold_seconds = 0;
    bool while_serving = false;
};

/// Rewrites `count` consecutive rows in place under the writer lock: the workers finish the
/// scans they are in, new scans wait, the rows change, the scans resume.
rewrite rewrite_rows(dataset& ds, std::size_t count);

struct load_report {
    std::vector<double> latencies;  // seconds, one per request
    std::vector<std::uint64_t> by_worker;
    std::vector<rewrite> rewrites;
    double seconds = 0, total_scan = 0, max_lock_wait = 0;
};

/// The built-in client: `concurrency` threads, each with one request in flight at most, send
/// `o.requests` batches between them (so the load is bounded and a slow service slows the
/// client down instead of piling requests up), while this thread rewrites rows. The first
/// error in a client thread stops the others and is rethrown here.
load_report run_load(const options& o, dataset& ds, std::size_t workers, std::size_t concurrency,
                     const std::string& socket_name, std::size_t round);

}  // namespace dataset_service
