// Futex waits on 32-bit words of shared memory: how shmpool's processes sleep until another one
// changes a word (the pool's control block, the synchronisation primitives). The words are
// std::atomic<std::uint32_t>, which are lock-free and laid out as a plain 32-bit integer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "shmpool/detail/deadline.hpp"

namespace shmpool::detail {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
                  sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "futex words must be plain lock-free 32-bit integers");

/// Futex wait on a word of shared memory (not FUTEX_PRIVATE: the word is shared by processes).
/// Returns when woken, when *word != expected, on a signal, or after `timeout_ns` (if > 0).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, long timeout_ns) noexcept;
/// Wakes every process and thread waiting on `word`.
void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;
/// The same for a futex word shmpool does not own (a pthread mutex's lock word).
void futex_wake_all(int* word) noexcept;

/// futex_wait until `deadline` (no_deadline: no time limit). Returns false at once, without
/// waiting, when the deadline has passed; true after a wait, whatever ended it.
inline bool futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                             steady_time deadline) noexcept {
    if (deadline == no_deadline) {
        futex_wait(word, expected, 0);
        return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    futex_wait(word, expected, static_cast<long>(left.count()));
    return true;
}

}  // namespace shmpool::detail
