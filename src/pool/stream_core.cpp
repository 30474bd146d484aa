// stream_core: the windows of a stream submitted ahead of its consumer, the wait for a slot,
// and the errors of a window delivered at their index (see shmpool/detail/stream_core.hpp).
#include "shmpool/detail/stream_core.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::detail {
namespace {

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// The index at which a failed window's error is raised: where the task threw; for a dead
// worker, the first index it did not complete whose result is not in its slot (a worker may die
// after storing a result and before the ledger counted it: that result is whole, and is
// delivered); `fallback` for any other error.
template <class Ready>
std::size_t failure_index(const std::exception_ptr& e, std::size_t fallback, Ready&& ready) {
    try {
        std::rethrow_exception(e);
    } catch (const worker_error& w) {
        return w.index();
    } catch (const worker_died_error& d) {
        for (const index_range& r : d.not_completed())
            for (std::size_t i = r.begin; i < r.end; ++i)
                if (!ready(i)) return i;
        return fallback;
    } catch (...) {
        return fallback;
    }
}

}  // namespace

ring_layout make_ring_layout(std::size_t first, std::size_t slots, std::size_t bytes,
                             std::size_t align) {
    ring_layout l;
    l.first = first;
    l.slots = slots;
    l.slot_bytes = round_up(std::max<std::size_t>(bytes, 1), std::max<std::size_t>(align, 1));
    l.stamps_offset = round_up(slots * l.slot_bytes, 64);
    return l;
}

stream_core::stream_core(std::size_t first, std::size_t last, std::size_t windows,
                         const ring_layout& layout, std::byte* ring, submit_fn submit)
    : last_(last),
      window_size_(std::max<std::size_t>(1, layout.slots / std::max<std::size_t>(1, windows))),
      layout_(layout),
      ring_(ring),
      submit_(std::move(submit)),
      next_begin_(first) {
    while (next_begin_ < last_ && in_flight_.size() * window_size_ + window_size_ <= layout_.slots)
        submit_next();
}

stream_core::~stream_core() {
    for (window& w : in_flight_) w.call.cancel();
    in_flight_.clear();  // each handle waits for its call: stopped after the index it is on
}

void stream_core::submit_next() {
    window w;
    w.begin = next_begin_;
    w.end = std::min(last_, next_begin_ + window_size_);
    w.call = submit_(w.begin, w.end);
    next_begin_ = w.end;
    in_flight_.push_back(std::move(w));
}

std::size_t stream_core::oldest_begin() const noexcept {
    return in_flight_.empty() ? next_begin_ : in_flight_.front().begin;
}

stream_core::window& stream_core::window_of(std::size_t i) {
    for (window& w : in_flight_)
        if (i >= w.begin && i < w.end) return w;
    throw error("shmpool stream: internal error: index " + std::to_string(i) +
                " is not in a window in flight");
}

bool stream_core::is_ready(std::size_t i) const noexcept {
    std::atomic_ref<std::uint64_t> stamp(ring_layout::stamp(ring_, layout_, layout_.slot_of(i)));
    return stamp.load(std::memory_order_acquire) == i + 1;
}

bool stream_core::call_ended_for(std::size_t i) {
    const window& w = window_of(i);
    return cancelled_ || !w.call.valid() || w.call.done();
}

const std::byte* stream_core::wait_ready(std::size_t i) {
    const std::byte* slot = ring_ + layout_.slot_of(i) * layout_.slot_bytes;
    if (is_ready(i)) return slot;
    if (cancelled_) return nullptr;
    window& w = window_of(i);
    for (int spins = 0;; ++spins) {
        if (is_ready(i)) return slot;
        if (!w.call.valid() || w.call.done()) {
            if (!settle(w, i)) return nullptr;
            spins = 0;
            continue;
        }
        if (spins < 64)
            std::this_thread::yield();
        else
            w.call.wait_for(std::chrono::microseconds(50));
    }
}

// Window w's call has ended and i is not in its slot: finds out why. Returns null when the
// stream was cancelled; throws the window's error when i is where it failed; otherwise submits
// the re-run of [i, where it failed) and returns non-null (the caller waits again).
const std::byte* stream_core::settle(window& w, std::size_t i) {
    if (w.call.valid()) {
        std::exception_ptr failure;
        bool cancelled = false;
        try {
            cancelled = w.call.get().cancelled;
        } catch (...) {
            failure = std::current_exception();
        }
        if (is_ready(i)) return ring_;  // it ran after all (a re-run finished it)
        if (cancelled) {
            cancelled_ = true;
            return nullptr;
        }
        if (failure) {
            const std::size_t at =
                failure_index(failure, i, [this](std::size_t k) { return is_ready(k); });
            if (!w.failure || at <= w.failed_at) w.failure = failure, w.failed_at = at;
        }
    }
    if (!w.failure)
        throw error("shmpool stream: internal error: the call for [" + std::to_string(w.begin) +
                    ", " + std::to_string(w.end) + ") ended without index " + std::to_string(i));
    if (w.failed_at <= i) std::rethrow_exception(w.failure);
    w.call = submit_(i, w.failed_at);  // what the failure stopped before its index
    return ring_;
}

void stream_core::release_below(std::size_t i) {
    while (!in_flight_.empty() && in_flight_.front().end <= i) {
        window& w = in_flight_.front();  // every index was delivered: its call is ending
        if (w.call.valid()) {
            try {
                w.call.get();  // a worker may have died after its last result: all arrived
            } catch (const error&) {
            }
        }
        in_flight_.pop_front();
        if (next_begin_ < last_) submit_next();
    }
}

}  // namespace shmpool::detail

namespace shmpool {

detail::block_shape process_pool::block_shape_of(const std::vector<std::size_t>& shape) {
    std::string text;  // as numpy prints a shape: (256, 256), (4,)
    for (std::size_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
    text = "(" + text + (shape.size() == 1 ? ",)" : ")");
    if (shape.empty() || shape.size() > detail::block_shape::max_rank)
        throw invalid_argument_error("process_pool::imap_blocks: the block shape " + text +
                                     " must have 1 to " +
                                     std::to_string(detail::block_shape::max_rank) + " dimensions");
    detail::block_shape b;
    for (std::size_t d : shape) {
        if (d == 0 || b.count > (std::size_t{1} << 40) / d)
            throw invalid_argument_error("process_pool::imap_blocks: the block shape " + text +
                                         " must have no zero dimension and under 2^40 "
                                         "elements");
        b.dims[b.rank++] = d;
        b.count *= d;
    }
    return b;
}

}  // namespace shmpool
