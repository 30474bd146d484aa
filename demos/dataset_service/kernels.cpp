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

// The scan's kernel twice: for AVX2 + FMA (chosen at run time when the CPU has them), and for
// the baseline. fp-contract=fast lets a multiply-add become one FMA instruction. Other
// compilers and CPUs get the baseline alone.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SCAN_HAS_AVX2 1
#pragma GCC optimize("fp-contract=fast")
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define SCAN_NAMESPACE scan_avx2
#include "scan_tile.inc"
#undef SCAN_NAMESPACE
#pragma GCC pop_options
#endif
#define SCAN_NAMESPACE scan_baseline
#include "scan_tile.inc"
#undef SCAN_NAMESPACE

namespace {

using block_scores_fn = void (*)(const float*, std::size_t, std::size_t, const float*,
                                 std::size_t, float*);

block_scores_fn pick_block_scores() {
#ifdef SCAN_HAS_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &scan_avx2::block_scores;
#endif
    return &scan_baseline::block_scores;
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

void scan_top_k(const float* x, std::size_t rows, std::size_t dim, const float* queries,
                std::size_t m, std::size_t k, hit* out, float* floor, std::size_t* count) {
    static const block_scores_fn block_scores = pick_block_scores();
    constexpr std::size_t block = 64;  // 64 rows of 128 floats: 32 KiB, in cache for the batch
    std::vector<float> scores(m * block);
    for (std::size_t q = 0; q < m; ++q) {
        floor[q] = -std::numeric_limits<float>::infinity();
        count[q] = 0;
    }
    for (std::size_t r0 = 0; r0 < rows; r0 += block) {
        const std::size_t n = std::min(rows - r0, block);
        block_scores(x + r0 * dim, n, dim, queries, m, scores.data());
        for (std::size_t q = 0; q < m; ++q) {
            hit* best = out + q * k;
            const float* s = scores.data() + q * n;
            for (std::size_t r = 0; r < n; ++r) {
                if (count[q] < k || s[r] > floor[q]) {
                    insert_hit(best, count[q], k, r0 + r, s[r]);
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
