// The ranges of process_pool::imap_unordered() (results as they complete, with their index) and
// process_pool::imap_blocks() (fixed-shape blocks written by the tasks straight into the ring,
// read in place), both over stream_core.hpp's ring.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <deque>
#include <iterator>
#include <memory>
#include <thread>
#include <utility>
#include <vector>
#include <xtensor/xadapt.hpp>

#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/stream_core.hpp"

namespace shmpool {

/// A block of an imap_blocks() stream as the task writes it: an xtensor adaptor over the
/// block's slot in the ring (C order, the stream's shape).
template <class T>
using block_out = decltype(xt::adapt(std::declval<T*>(), std::size_t{}, xt::no_ownership(),
                                     std::declval<const std::vector<std::size_t>&>()));
/// A block as the consumer reads it, in place: const.
template <class T>
using block_in = decltype(xt::adapt(std::declval<const T*>(), std::size_t{}, xt::no_ownership(),
                                    std::declval<const std::vector<std::size_t>&>()));

namespace detail {

/// The iterator of the stream ranges: an input iterator over `Range`, which has current(),
/// advance() and finished().
template <class Range, class V>
class stream_iterator {
public:
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    const V& operator*() const { return range_->current(); }
    const V* operator->() const { return &range_->current(); }
    stream_iterator& operator++() {
        range_->advance();
        return *this;
    }
    void operator++(int) { range_->advance(); }
    friend bool operator==(const stream_iterator& it, std::default_sentinel_t) {
        return it.range_->finished();
    }
    explicit stream_iterator(Range* r) : range_(r) {}

private:
    Range* range_;
};

/// The shape a block task carries into the workers (trivially copyable).
struct block_shape {
    static constexpr std::size_t max_rank = 8;
    std::array<std::size_t, max_rank> dims{};
    std::size_t rank = 0;
    std::size_t count = 1;
    std::vector<std::size_t> to_vector() const {
        return std::vector<std::size_t>(dims.begin(), dims.begin() + rank);
    }
};

/// Writes block i: fn(i, out) with out the slot seen as a block of `shape`.
template <class T, class F>
struct block_write {
    F fn;
    block_shape shape;
    void operator()(std::size_t i, std::byte* slot) {
        auto out = xt::adapt(reinterpret_cast<T*>(slot), shape.count, xt::no_ownership(),
                             shape.to_vector());
        fn(i, out);
    }
};

}  // namespace detail

/// The range process_pool::imap_unordered() returns: (index, result) pairs in the order the
/// results complete. Input range: iterate it once; destroying it early stops its work.
template <class R>
class imap_unordered_range {
public:
    using value_type = std::pair<std::size_t, R>;
    using iterator = detail::stream_iterator<imap_unordered_range, value_type>;

    /// Waits for a first result and returns an iterator to it.
    iterator begin() {
        advance();
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }
    bool finished() const noexcept { return done_; }
    const value_type& current() const noexcept { return current_; }

    void advance() {
        for (int idle = 0;;) {
            if (yielded_ == total_) {
                done_ = true;
                return;
            }
            if (take_a_ready_one()) return;
            if (settle_an_ended_window()) return;  // took the first missing one
            if (done_) return;
            if (++idle < 64)
                std::this_thread::yield();
            else
                std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
    }

private:
    friend class process_pool;
    using stored = typename detail::result_codec<R>::stored;

    imap_unordered_range(std::size_t first, std::size_t last,
                         std::unique_ptr<detail::result_buffer> ring,
                         std::unique_ptr<detail::stream_core> core)
        : ring_(std::move(ring)),
          core_(std::move(core)),
          first_(first),
          total_(last > first ? last - first : 0),
          window_size_(core_->window_size()),
          cursor_(first),
          yielded_tag_(core_->layout().slots, 0) {
        grow_counts();
    }

    bool yielded(std::size_t i) const { return yielded_tag_[core_->layout().slot_of(i)] == i + 1; }

    void take(std::size_t i, const std::byte* slot) {
        stored s;
        std::memcpy(&s, slot, sizeof s);
        current_ = {i, detail::result_codec<R>::decode(s)};
        yielded_tag_[core_->layout().slot_of(i)] = i + 1;
        ++yielded_;
        ++window_counts_[(i - first_) / window_size_ - released_windows_];
        cursor_ = i + 1;
        release_finished_windows();
    }

    // Scans the windows in flight once, from where the last result was found, for a result
    // that is there and was not yielded yet.
    bool take_a_ready_one() {
        const std::size_t begin = core_->oldest_begin(), end = core_->submitted_end();
        if (cursor_ < begin || cursor_ >= end) cursor_ = begin;
        for (std::size_t n = end - begin, k = 0; k < n; ++k) {
            const std::size_t i = cursor_ + k < end ? cursor_ + k : cursor_ + k - n;
            if (!yielded(i) && core_->is_ready(i)) {
                take(i, core_->ring() + core_->layout().slot_of(i) * core_->layout().slot_bytes);
                return true;
            }
        }
        return false;
    }

    // Nothing is ready: when a window's call has ended with results missing, waits for its
    // first missing index (which re-runs gaps, throws the error at its index, or ends a
    // cancelled stream).
    bool settle_an_ended_window() {
        // Whether a window's call ended is read once per window, before its indices are
        // looked at: read per index, it could end between two of them, and its error would
        // then be raised at a later index than the first one missing.
        const std::size_t end = core_->submitted_end();
        for (std::size_t w = core_->oldest_begin(); w < end; w += window_size_) {
            const std::size_t w_end = std::min(end, w + window_size_);
            if (!core_->call_ended_for(w)) continue;
            for (std::size_t i = w; i < w_end; ++i) {
                if (yielded(i)) continue;
                const std::byte* slot = core_->wait_ready(i);
                if (!slot) {
                    done_ = true;
                    return false;
                }
                take(i, slot);
                return true;
            }
        }
        return false;
    }

    void release_finished_windows() {
        while (!window_counts_.empty()) {
            const std::size_t begin = first_ + released_windows_ * window_size_;
            const std::size_t size = std::min(window_size_, first_ + total_ - begin);
            if (window_counts_.front() < size) return;
            window_counts_.pop_front();
            ++released_windows_;
            core_->release_below(begin + size);
            grow_counts();
        }
    }

    void grow_counts() {
        const std::size_t windows =
            (core_->submitted_end() - first_ + window_size_ - 1) / window_size_;
        while (released_windows_ + window_counts_.size() < windows) window_counts_.push_back(0);
    }

    std::unique_ptr<detail::result_buffer> ring_;
    std::unique_ptr<detail::stream_core> core_;
    std::size_t first_, total_, window_size_, cursor_;
    std::size_t yielded_ = 0, released_windows_ = 0;
    std::vector<std::uint64_t> yielded_tag_;  // per slot: index + 1 once yielded
    std::deque<std::size_t> window_counts_;   // per window in flight: results yielded
    bool done_ = false;
    value_type current_{};
};

/// The range process_pool::imap_blocks() returns: block i of the stream, in index order, read
/// in place in the ring; a block is valid until the iterator advances. Input range.
template <class T>
class imap_blocks_range {
public:
    using value_type = block_in<T>;
    using iterator = detail::stream_iterator<imap_blocks_range, value_type>;

    iterator begin() {
        advance();
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }
    bool finished() const noexcept { return next_ > last_; }
    const value_type& current() const { return *current_; }
    /// The index of the current block.
    std::size_t index() const noexcept { return next_ - 1; }

    void advance() {
        current_.reset();
        core_->release_below(next_);  // the block the consumer held is free
        if (next_ >= last_) {
            next_ = last_ + 1;
            return;
        }
        const std::byte* slot = core_->wait_ready(next_);
        if (!slot) {
            next_ = last_ + 1;
            return;
        }
        current_ = std::make_unique<value_type>(
            xt::adapt(reinterpret_cast<const T*>(slot), shape_.count, xt::no_ownership(), dims_));
        ++next_;
    }

private:
    friend class process_pool;
    imap_blocks_range(std::size_t first, std::size_t last, const detail::block_shape& shape,
                      std::unique_ptr<detail::result_buffer> ring,
                      std::unique_ptr<detail::stream_core> core)
        : ring_(std::move(ring)),
          core_(std::move(core)),
          next_(first),
          last_(last),
          shape_(shape),
          dims_(shape.to_vector()) {}

    std::unique_ptr<detail::result_buffer> ring_;
    std::unique_ptr<detail::stream_core> core_;
    std::size_t next_, last_;
    detail::block_shape shape_;
    std::vector<std::size_t> dims_;
    std::unique_ptr<value_type> current_;
};

}  // namespace shmpool
