// shmpool::imap_range, the lazy ordered range process_pool::imap() returns: results computed by
// the workers into a ring of slots in shared memory ahead of the consumer (stream_core.hpp).
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>

#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/stream_core.hpp"

namespace shmpool {

class process_pool;

/// The lazy range process_pool::imap() returns. Input range: iterate it once. Destroying it
/// before its end stops the work still in flight (and waits for it to stop).
template <class R>
class imap_range {
public:
    class iterator {
    public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        const R& operator*() const { return range_->current_; }
        iterator& operator++() {
            range_->advance();
            return *this;
        }
        void operator++(int) { range_->advance(); }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            return it.range_->finished();
        }

    private:
        friend class imap_range;
        explicit iterator(imap_range* r) : range_(r) {}
        imap_range* range_;
    };

    /// Waits for the first result and returns an iterator to it.
    iterator begin() {
        advance();
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// Whether iteration has gone past the last result (or the call was cancelled).
    bool finished() const noexcept { return next_ > last_; }

private:
    friend class process_pool;
    using stored = typename detail::result_codec<R>::stored;

    imap_range(std::size_t first, std::size_t last, std::unique_ptr<detail::result_buffer> ring,
               std::unique_ptr<detail::stream_core> core)
        : ring_(std::move(ring)), core_(std::move(core)), next_(first), last_(last) {}

    void advance() {
        if (next_ >= last_) {
            next_ = last_ + 1;  // past the end
            return;
        }
        const std::byte* slot = core_->wait_ready(next_);
        if (!slot) {  // cancelled: no result at next_
            next_ = last_ + 1;
            return;
        }
        stored s;
        std::memcpy(&s, slot, sizeof s);
        current_ = detail::result_codec<R>::decode(s);
        ++next_;
        core_->release_below(next_);  // copied out: the slot is free
    }

    std::unique_ptr<detail::result_buffer> ring_;  // declared first: destroyed last
    std::unique_ptr<detail::stream_core> core_;
    std::size_t next_, last_;
    R current_{};
};

}  // namespace shmpool
