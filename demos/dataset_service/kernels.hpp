// demos/dataset_service: the hot loops. The rows of the matrix (and the queries) made by a
// generator, the master's load, the workers' batched top-k scan, and the brute-force scan the
// check compares it with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "dataset.hpp"

namespace dataset_service {

/// splitmix64's finaliser.
std::uint64_t mix(std::uint64_t z);

/// Row `row` of `version` (0: as loaded, then one per rewrite): uniform values in [-1, 1)
/// scaled to unit length, so that a dot product is a cosine. Queries use the same generator
/// with row numbers above any matrix row.
void make_row(float* out, std::size_t dim, std::uint64_t row, std::uint64_t version);

/// Rows [first, last) of x (rows of `dim` floats) as of `version`.
void fill_rows(float* x, std::size_t first, std::size_t last, std::size_t dim,
               std::uint64_t version);

/// The master's load: fill_rows over all rows with one thread per core. The threads are
/// joined before any worker is forked.
void load_matrix(float* x, std::size_t rows, std::size_t dim);

/// For each of the m queries (m x dim, C order) the k rows of `x` (rows x dim) with the highest
/// dot product, best first, into out (m x k). The matrix is read once per call, in blocks of
/// rows that stay in cache while every query of the batch passes over them: one scan of the
/// matrix serves the whole batch. `floor` and `count` are scratch space for m values each.
void scan_top_k(const float* x, std::size_t rows, std::size_t dim, const float* queries,
                std::size_t m, std::size_t k, hit* out, float* floor, std::size_t* count);

/// The check's reference: for each of the m queries, every row's dot product in double, in
/// the plain order, keeping the k best by insertion. Returns m x k (row, score) best first.
std::vector<std::pair<std::uint64_t, double>> brute_force(const float* x, std::size_t rows,
                                                          std::size_t dim, const float* queries,
                                                          std::size_t m, std::size_t k);

/// The dot product in double of row `r` with a query (to check a reported score).
double exact_score(const float* x, std::size_t dim, std::uint64_t r, const float* query);

}  // namespace dataset_service
