// shmpool::event: one futex word, the flag and a "someone may be asleep" bit so that set()
// makes a system call only when needed.
#include "shmpool/event.hpp"

#include <type_traits>

#include "futex.hpp"

namespace shmpool {

static_assert(std::is_standard_layout_v<event>);

void event::set() noexcept {
    if (word_.exchange(set_bit, std::memory_order_acq_rel) & waiting_bit) {
        detail::futex_wake_all(word_);
    }
}

void event::clear() noexcept { word_.fetch_and(~set_bit, std::memory_order_release); }

bool event::wait_deadline(detail::steady_time deadline) noexcept {
    for (;;) {
        std::uint32_t w = word_.load(std::memory_order_acquire);
        if (w & set_bit) return true;
        if (w == 0 && !word_.compare_exchange_weak(w, waiting_bit, std::memory_order_relaxed)) {
            continue;
        }
        if (!detail::futex_wait_until(word_, waiting_bit, deadline)) return is_set();
    }
}

}  // namespace shmpool
