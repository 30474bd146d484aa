// demos/dataset_service: the hot loops (kernels.hpp). The dev preset builds without
// optimisation; the functions that fill the matrix, scan it and check the scan are compiled
// optimised whatever the build type, so that the demo's timings mean something in every build.
#include "kernels.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace dataset_service {

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void make_row(float* out, std::size_t dim, std::uint64_t row, std::uint64_t version) {
    std::uint64_t s = mix(row * 0x9e3779b97f4a7c15ULL + version * 0xd1b54a32d192ed03ULL + 1);
    double norm = 0;
    for (std::size_t d = 0; d < dim; ++d) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;  // a 64-bit LCG: cheap
        const float v = static_cast<float>(s >> 40) * 0x1p-23f - 1.0f;
        out[d] = v;
        norm += static_cast<double>(v) * v;
    }
    const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    for (std::size_t d = 0; d < dim; ++d) out[d] *= scale;
}

void fill_rows(float* x, std::size_t first, std::size_t last, std::size_t dim,
               std::uint64_t version) {
    for (std::size_t r = first; r < last; ++r) make_row(x + r * dim, dim, r, version);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void load_matrix(float* x, std::size_t rows, std::size_t dim) {
    const std::size_t n = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 16);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < n; ++t)
        threads.emplace_back(fill_rows, x, rows * t / n, rows * (t + 1) / n, dim, 0);
    for (auto& t : threads) t.join();
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif

namespace {

[[gnu::always_inline]] inline float dot(const float* __restrict a, const float* __restrict b,
                                        std::size_t n) {
    float lane[16] = {};  // 16 independent sums, which the compiler turns into vector registers
    const std::size_t whole = n - n % 16;
    for (std::size_t d = 0; d < whole; d += 16)
        for (std::size_t j = 0; j < 16; ++j) lane[j] += a[d + j] * b[d + j];
    float sum = 0;
    for (std::size_t d = whole; d < n; ++d) sum += a[d] * b[d];
    for (std::size_t j = 0; j < 16; ++j) sum += lane[j];
    return sum;
}

/// Puts (row, score) into `best` (`count` hits sorted best first, room for k), in a new slot
/// or in place of the worst. The caller has checked that it belongs there.
void insert_hit(hit* best, std::size_t& count, std::size_t k, std::uint64_t row, float score) {
    std::size_t at = count < k ? count++ : k - 1;
    while (at > 0 && best[at - 1].score < score) {  // ties keep the row seen first
        best[at] = best[at - 1];
        --at;
    }
    best[at] = hit{row, score, 0};
}

}  // namespace

// With many queries per request the scan is bound by arithmetic, not memory: an AVX2 clone
// (8 floats per instruction instead of SSE2's 4), chosen at load time where the CPU has it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DATASET_SERVICE_CLONES [[gnu::target_clones("avx2", "default")]]
#else
#define DATASET_SERVICE_CLONES
#endif

DATASET_SERVICE_CLONES
void scan_top_k(const float* x, std::size_t rows, std::size_t dim, const float* queries,
                std::size_t m, std::size_t k, hit* out, float* floor, std::size_t* count) {
    constexpr std::size_t block = 64;  // 64 rows of 128 floats: 32 KiB
    for (std::size_t q = 0; q < m; ++q) {
        floor[q] = -std::numeric_limits<float>::infinity();
        count[q] = 0;
    }
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
        const std::size_t r1 = std::min(rows, r0 + block);
        for (std::size_t q = 0; q < m; ++q) {
            const float* query = queries + q * dim;
            hit* best = out + q * k;
            for (std::size_t r = r0; r < r1; ++r) {
                const float s = dot(x + r * dim, query, dim);
                if (count[q] < k || s > floor[q]) {
                    insert_hit(best, count[q], k, r, s);
                    if (count[q] == k) floor[q] = best[k - 1].score;
                }
            }
        }
    }
}

std::vector<std::pair<std::uint64_t, double>> brute_force(const float* x, std::size_t rows,
                                                          std::size_t dim, const float* queries,
                                                          std::size_t m, std::size_t k) {
    std::vector<std::pair<std::uint64_t, double>> best(m * k, {0, -HUGE_VAL});
    std::vector<double> score(m);
    std::pair<std::uint64_t, double>* b = best.data();
    double* s = score.data();
    for (std::size_t r = 0; r < rows; ++r) {
        const float* row = x + r * dim;
        for (std::size_t q = 0; q < m; ++q) s[q] = 0;
        for (std::size_t d = 0; d < dim; ++d)
            for (std::size_t q = 0; q < m; ++q)
                s[q] += static_cast<double>(row[d]) * static_cast<double>(queries[q * dim + d]);
        for (std::size_t q = 0; q < m; ++q) {
            auto* top = b + q * k;
            if (!(s[q] > top[k - 1].second)) continue;
            std::size_t at = k - 1;
            while (at > 0 && top[at - 1].second < s[q]) {
                top[at] = top[at - 1];
                --at;
            }
            top[at] = {r, s[q]};
        }
    }
    return best;
}

double exact_score(const float* x, std::size_t dim, std::uint64_t r, const float* query) {
    double s = 0;
    for (std::size_t d = 0; d < dim; ++d)
        s += static_cast<double>(x[r * dim + d]) * static_cast<double>(query[d]);
    return s;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

}  // namespace dataset_service
