// demos/dataset_service: what its files share. The options, the names of the shared objects,
// the dataset the master creates (the matrix, the reader-writer lock, the per-worker counters),
// one hit of an answer, and small helpers for times and sizes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <shmpool/shmpool.hpp>
#include <string>

namespace dataset_service {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

inline double mb(double bytes) { return bytes / 1e6; }

inline std::string fixed(double v, int decimals = 1) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

inline double kb_to_mb(std::uint64_t kb) { return static_cast<double>(kb) * 1024.0 / 1e6; }

struct options {
    std::size_t rows = 4'000'000;  // 4,000,000 x 128 float32: 2.05 GB, the 2 GB
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

/// One hit of a reply: a row of the matrix and its score (dot product) with the query.
struct hit {
    std::uint64_t row;
    float score;
    std::uint32_t reserved;
};
static_assert(sizeof(hit) == 16);

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

/// What the master made: every round's workers attach to it by name.
struct dataset {
    names n;
    shmpool::shared_array<float> matrix;
    shmpool::shared_object<shmpool::shared_rwlock> rwlock;  // named: workers open it
    shmpool::raw_array<std::uint64_t> stats;
    std::size_t rows = 0, dim = 0;
    std::uint64_t version = 0;  // of the last rewrite
    shmpool::shared_rwlock& lock() const { return *rwlock; }
};

}  // namespace dataset_service
