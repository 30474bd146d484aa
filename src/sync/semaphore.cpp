// shmpool::semaphore: a count on a futex word, and a count of sleepers so that release() makes
// a system call only when someone may be asleep.
#include "shmpool/semaphore.hpp"

#include <string>
#include <type_traits>

#include "futex.hpp"
#include "shmpool/error.hpp"

namespace shmpool {

static_assert(std::is_standard_layout_v<semaphore>);

bool semaphore::try_acquire() noexcept {
    std::uint32_t c = count_.load(std::memory_order_relaxed);
    while (c > 0) {
        if (count_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

bool semaphore::acquire_until(detail::steady_time deadline) noexcept {
    for (;;) {
        if (try_acquire()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        // Registered before the futex re-reads count_: a release() after that sees waiters_.
        waiters_.fetch_add(1, std::memory_order_seq_cst);
        detail::futex_wait_until(count_, 0, deadline);
        waiters_.fetch_sub(1, std::memory_order_relaxed);
    }
}

void semaphore::release(std::uint32_t n) {
    std::uint32_t c = count_.load(std::memory_order_relaxed);
    do {
        if (n > max() - c) {
            throw invalid_argument_error("shmpool::semaphore::release(" + std::to_string(n) +
                                         "): the count " + std::to_string(c) +
                                         " would exceed its maximum");
        }
    } while (!count_.compare_exchange_weak(c, c + n, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    if (n > 0 && waiters_.load(std::memory_order_seq_cst) > 0) detail::futex_wake_all(count_);
}

}  // namespace shmpool
