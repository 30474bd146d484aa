// shmpool::barrier: one futex word holding the round number and the arrivals of this round.
// A round can only end with every party, so a waiter never sees the round number wrap around.
#include "shmpool/barrier.hpp"

#include <string>
#include <type_traits>

#include "futex.hpp"
#include "shmpool/error.hpp"

namespace shmpool {

static_assert(std::is_standard_layout_v<barrier>);

namespace {

constexpr std::uint32_t arrivals_mask = 0xffff;
constexpr unsigned round_shift = 16;

std::uint32_t round_of(std::uint32_t state) noexcept { return state >> round_shift; }

}  // namespace

barrier::barrier(std::uint32_t parties) : parties_(parties) {
    if (parties == 0 || parties > max_parties) {
        throw invalid_argument_error("shmpool::barrier: " + std::to_string(parties) +
                                     " parties; give 1 to " + std::to_string(max_parties));
    }
}

bool barrier::arrive_and_wait_deadline(detail::steady_time deadline) noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    std::uint32_t next;
    do {
        const bool last = (s & arrivals_mask) + 1 == parties_;
        next = last ? (round_of(s) + 1) << round_shift : s + 1;  // the last one opens the round
    } while (!state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
    if (round_of(next) != round_of(s)) {
        detail::futex_wake_all(state_);
        return true;
    }
    return wait_for_round(round_of(s), next, deadline);
}

/// Waits for round `round` to end; on timeout, withdraws the arrival unless it has ended.
bool barrier::wait_for_round(std::uint32_t round, std::uint32_t seen,
                             detail::steady_time deadline) noexcept {
    for (;;) {
        if (round_of(seen) != round) return true;
        if (!detail::futex_wait_until(state_, seen, deadline)) break;
        seen = state_.load(std::memory_order_acquire);
    }
    seen = state_.load(std::memory_order_acquire);
    while (round_of(seen) == round) {
        if (state_.compare_exchange_weak(seen, seen - 1, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
            return false;
        }
    }
    return true;  // the round ended as the wait timed out
}

}  // namespace shmpool
