// Futex system calls, for the pool's control block and the synchronisation primitives.
#include "futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace shmpool::detail {

void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                long timeout_ns) noexcept {
    timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
    // EINTR, EAGAIN and ETIMEDOUT all mean "look at the word again": callers loop.
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected,
              timeout_ns > 0 ? &ts : nullptr, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT32_MAX, nullptr,
              nullptr, 0);
}

void futex_wake_all(int* word) noexcept {
    ::syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace shmpool::detail
