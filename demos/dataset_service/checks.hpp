// demos/dataset_service: the self-checks of a round. report_memory() prints every process's
// memory and checks that the sum of PSS is one copy of the matrix; check_answers() compares the
// service's answers with a brute-force scan by the master. Each failure is added to `failures`.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "client.hpp"
#include "dataset.hpp"

namespace dataset_service {

struct memory_outcome {
    std::uint64_t rss_sum_kb = 0, pss_sum_kb = 0, matrix_pss_sum_kb = 0, matrix_resident_kb = 0;
    double pss_over_matrix = 0;
};

/// Reads the smaps of the master and its workers, prints each one's memory, and checks that
/// the sum of PSS is one copy of the matrix plus a small allowance per process.
memory_outcome report_memory(const options& o, const dataset& ds, const std::vector<pid_t>& workers,
                             std::vector<std::string>& failures);

/// Sends a few queries through the service and compares the answer with a brute-force scan by
/// the master. Half of the queries (when rows were rewritten) are rows of the last rewrite,
/// generated afresh: each must find its own row first, with score 1, which the workers can
/// only see if the rewrite reached the memory they scan.
void check_answers(const options& o, dataset& ds, const std::vector<rewrite>& rewrites,
                   std::size_t workers, const std::string& socket_name, std::size_t round,
                   std::vector<std::string>& failures);

}  // namespace dataset_service
