// The progress line on stderr that long pool calls and long creations draw (shmpool::progress).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "shmpool/progress.hpp"

namespace shmpool::detail {

/// Draws "[shmpool] WHAT done/total (pct) rate/s ETA" on stderr, at most 5 times a second, after
/// the first half second; with `bytes`, the amounts are shown in GB. Never throws.
class progress_line {
public:
    using clock_type = std::chrono::steady_clock;

    progress_line(progress mode, std::uint64_t total, const char* what = "", bool bytes = false)
        : on_(mode == progress::always || (mode == progress::automatic && ::isatty(2))),
          bytes_(bytes),
          what_(what),
          total_(total),
          start_(clock_type::now()) {}

    void update(std::uint64_t done) noexcept {
        if (!on_) return;
        const auto now = clock_type::now();
        if (now - start_ < std::chrono::milliseconds(500) ||
            now - last_ < std::chrono::milliseconds(200))
            return;
        last_ = now;
        drawn_ = true;
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double d = static_cast<double>(std::min(done, total_));
        const double t = static_cast<double>(total_);
        const double rate = d / secs;
        const double eta = rate > 0 ? (t - d) / rate : 0;
        const double pct = total_ ? 100.0 * d / t : 100.0;
        if (bytes_)
            std::fprintf(stderr, "\r[shmpool] %s%.2f/%.2f GB (%5.1f%%) %.2f GB/s ETA %.0f s   ",
                         what_, d / 1e9, t / 1e9, pct, rate / 1e9, eta);
        else
            std::fprintf(stderr, "\r[shmpool] %s%llu/%llu (%5.1f%%) %.3g/s ETA %.0f s   ", what_,
                         static_cast<unsigned long long>(done),
                         static_cast<unsigned long long>(total_), pct, rate, eta);
    }

    ~progress_line() {
        if (drawn_) std::fprintf(stderr, "\n");
    }

    progress_line(const progress_line&) = delete;
    progress_line& operator=(const progress_line&) = delete;

private:
    bool on_;
    bool bytes_;
    bool drawn_ = false;
    const char* what_;
    std::uint64_t total_;
    clock_type::time_point start_;
    clock_type::time_point last_{};
};

}  // namespace shmpool::detail
