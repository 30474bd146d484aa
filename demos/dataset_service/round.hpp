// demos/dataset_service: one round with N workers (fork them, load with rewrites, memory,
// answers checked, shutdown) and the table of a sweep over N.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "checks.hpp"
#include "dataset.hpp"

namespace dataset_service {

struct round_result {
    std::size_t workers = 0;
    double requests_per_s = 0, queries_per_s = 0, p50 = 0, p90 = 0, p99 = 0;
    memory_outcome memory;
    bool ok = false;
};

/// Runs round `round` with `workers` workers over `ds`; each failed check is added to
/// `failures` (and makes the result not ok).
round_result run_round(const options& o, dataset& ds, std::size_t workers, std::size_t round,
                       std::vector<std::string>& failures);

/// The sweep's table: throughput, latency and memory for each number of workers.
void print_sweep(const options& o, const std::vector<round_result>& results);

}  // namespace dataset_service
