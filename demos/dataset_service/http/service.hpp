// demos/dataset_service/http: what the HTTP service's files share. Its options (--serve and the
// ones beside it), the shared objects the master creates before forking (the matrix, the
// reader-writer lock, the service's counters), and the layout of those counters: a header, then
// one slot per worker (its PID, requests served, errors, replacements) with a latency histogram.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <shmpool/shmpool.hpp>
#include <string>

#include "../dataset.hpp"

namespace dataset_service::http {

struct serve_options {
    bool serve = false;
    std::string address = "127.0.0.1";
    int port = 8080;                   // 0: a free port, printed on stdout
    std::string name;                  // prefix of the shared objects' names
    std::size_t threads = 4;           // HTTP threads per worker
    std::size_t max_body = 16u << 20;  // bytes; larger bodies get 413
    long read_timeout = 5;             // seconds, for a slow client
    long write_timeout = 5;            // seconds
    long keep_alive_timeout = 2;       // seconds a kept-alive connection may idle
    std::string matrix_file;           // a file-backed matrix (kept), or "": /dev/shm
};

/// Where the matrix lives: --matrix-file, or /dev/shm/<the matrix's name>.
inline std::string matrix_path(const names& n, const serve_options& so) {
    return so.matrix_file.empty() ? "/dev/shm/" + n.matrix : so.matrix_file;
}

/// The matrix, opened by name (or by its file with --matrix-file).
inline shmpool::shared_array<float> open_matrix(const names& n, const serve_options& so) {
    return so.matrix_file.empty()
               ? shmpool::shared_array<float>::open(n.matrix)
               : shmpool::shared_array<float>::open(shmpool::file_path{so.matrix_file});
};

// ---------------------------------------------------------------------------------------------
// The counters: a raw_array<uint64_t> of header_words + max_workers * slot_words words.

enum header_field : std::size_t { master_pid, worker_count, matrix_version, header_words = 8 };

enum slot_field : std::size_t {
    slot_pid,       // the worker now serving in the slot (0 before its first start)
    slot_ready,     // 1 once that worker attached and is about to serve
    slot_served,    // requests it answered (any status), since it started
    slot_errors,    // of which 4xx and 5xx
    slot_restarts,  // workers that died in this slot and were replaced (the master counts)
    slot_topk,      // /topk requests answered with 200 (the histogram's count), whole slot life
    histogram = 8,  // then hist_buckets latency buckets
};
constexpr std::size_t hist_buckets = 128;  // bucket b: latency in [2^(b/4), 2^((b+1)/4)) us
constexpr std::size_t slot_words = histogram + hist_buckets;
constexpr std::size_t stats_words = header_words + max_workers * slot_words;

inline std::size_t slot_at(std::size_t slot, std::size_t field) {
    return header_words + slot * slot_words + field;
}

/// The histogram bucket of a latency in microseconds.
std::size_t latency_bucket(double microseconds);

/// The latency (in milliseconds) below which `fraction` of the recorded ones fall: the
/// geometric middle of the bucket holding it. 0 with nothing recorded.
double latency_percentile(const shmpool::raw_array<std::uint64_t>& stats, std::size_t workers,
                          double fraction);

/// What a worker works on, opened by name after the fork.
struct worker_context {
    std::uint32_t slot = 0;
    std::size_t workers = 0;
    names n;
    serve_options so;
    shmpool::shared_array<float> matrix;
    shmpool::shared_object<shmpool::shared_rwlock> rwlock;
    shmpool::raw_array<std::uint64_t> stats;
    std::size_t rows() const { return matrix.shape()[0]; }
    std::size_t dim() const { return matrix.shape()[1]; }
};

}  // namespace dataset_service::http
