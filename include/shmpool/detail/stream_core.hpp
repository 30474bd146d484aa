// The machinery behind process_pool's streams (imap, imap_unordered, imap_blocks): a ring of
// result slots in shared memory, filled by windows of the range submitted ahead of the
// consumer, each slot stamped with the index it holds once its result is complete.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>

#include "shmpool/call_handle.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool::detail {

/// Where a stream's ring lives: `slots` slots of `slot_bytes` each at offset 0 of a shared
/// buffer, then one 64-bit stamp per slot at `stamps_offset`: index + 1 once the slot holds
/// that index's complete result (0: never written).
struct ring_layout {
    std::size_t first = 0;  // the stream's first index: slot of i is (i - first) % slots
    std::size_t slots = 0;
    std::size_t slot_bytes = 0;  // a multiple of the alignment asked for
    std::size_t stamps_offset = 0;

    std::size_t slot_of(std::size_t i) const noexcept { return (i - first) % slots; }
    std::size_t total_bytes() const noexcept { return stamps_offset + slots * 8; }
    static std::uint64_t& stamp(std::byte* base, const ring_layout& l, std::size_t slot) noexcept {
        return *reinterpret_cast<std::uint64_t*>(base + l.stamps_offset + slot * 8);
    }
};

/// The layout of a ring of `slots` slots of at least `bytes` each, rounded up to `align`
/// (a result's alignment; 64 for blocks, which then never share a cache line).
SHMPOOL_API ring_layout make_ring_layout(std::size_t first, std::size_t slots, std::size_t bytes,
                                         std::size_t align);

/// The task a stream's window runs in the workers: for index i, unless its slot already holds
/// i (a re-run filling the gaps a failure left), `write(i, slot)` then the slot's stamp.
template <class Write>
struct ring_task {
    Write write;
    array_ref ring;
    ring_layout layout;
    void operator()(std::size_t i) {
        std::byte* base = find_segment(ring).data;
        const std::size_t s = layout.slot_of(i);
        std::atomic_ref<std::uint64_t> stamp(ring_layout::stamp(base, layout, s));
        if (stamp.load(std::memory_order_acquire) == i + 1) return;
        write(i, base + s * layout.slot_bytes);
        stamp.store(i + 1, std::memory_order_release);
    }
};

/// Writes fn(i), encoded, into the slot (imap, imap_unordered).
template <class F, class R>
struct value_write {
    F fn;
    void operator()(std::size_t i, std::byte* slot) {
        const typename result_codec<R>::stored r = result_codec<R>::encode(fn(i));
        std::memcpy(slot, &r, sizeof r);
    }
};

/// The consumer's side of a stream over [first, last): submits windows of the range (each a
/// call of the pool writing its slots), at most `windows` ahead, the next one when the
/// consumer has moved past the oldest; finds a result's slot once its stamp says it is there;
/// turns a failed window into the right error at the right index, after re-running what the
/// failure left undone before it. Not copyable; the destructor cancels what is in flight and
/// waits for it.
class SHMPOOL_API stream_core {
public:
    /// Submits the calls that fill [b, e) of the ring.
    using submit_fn = std::function<call_handle(std::size_t b, std::size_t e)>;

    stream_core(std::size_t first, std::size_t last, std::size_t windows, const ring_layout& layout,
                std::byte* ring, submit_fn submit);
    ~stream_core();
    stream_core(const stream_core&) = delete;
    stream_core& operator=(const stream_core&) = delete;

    /// Waits until index i (submitted already) is in its slot and returns the slot's address.
    /// Rethrows the error of the call that failed at i (worker_error, worker_died_error) once
    /// every earlier index was delivered; returns null when the stream was cancelled
    /// (process_pool::cancel) before i: iteration ends there.
    const std::byte* wait_ready(std::size_t i);
    /// Whether i is in its slot now (no waiting, no error).
    bool is_ready(std::size_t i) const noexcept;
    /// Whether the call that fills i has ended (so waiting for i would settle it: the result,
    /// a re-run of gaps, the error or the end of a cancelled stream). i must be in flight.
    bool call_ended_for(std::size_t i);
    /// The consumer is done with every index below `i`: their windows' slots are free, and the
    /// next windows are submitted.
    void release_below(std::size_t i);
    /// The windows in flight: [oldest_begin(), submitted_end()).
    std::size_t oldest_begin() const noexcept;
    std::size_t submitted_end() const noexcept { return next_begin_; }
    /// Indices per window (the last one may have fewer).
    std::size_t window_size() const noexcept { return window_size_; }
    const ring_layout& layout() const noexcept { return layout_; }
    std::byte* ring() const noexcept { return ring_; }

private:
    struct window {
        std::size_t begin = 0, end = 0;
        call_handle call;            // the window's call, or the re-run of its gaps
        std::exception_ptr failure;  // the error to raise at failed_at
        std::size_t failed_at = 0;
    };
    window& window_of(std::size_t i);
    void submit_next();
    const std::byte* settle(window& w, std::size_t i);

    std::size_t last_, window_size_;
    ring_layout layout_;
    std::byte* ring_;
    submit_fn submit_;
    std::deque<window> in_flight_;
    std::size_t next_begin_;
    bool cancelled_ = false;
};

}  // namespace shmpool::detail
