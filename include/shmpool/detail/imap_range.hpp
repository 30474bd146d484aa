// shmpool::imap_range, the lazy ordered range process_pool::imap() returns.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <functional>
#include <iterator>

#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool {

class process_pool;

/// The lazy range process_pool::imap() returns. Input range: iterate it once.
template <class R>
class imap_range {
public:
    using batch_runner = std::function<void(const detail::array_ref&, std::size_t, std::size_t)>;

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

    /// Computes the first window and returns an iterator to the first result.
    iterator begin() {
        advance();
        return iterator(this);
    }
    std::default_sentinel_t end() const noexcept { return {}; }

    /// Whether iteration has gone past the last result.
    bool finished() const noexcept { return next_ > last_; }

private:
    friend class process_pool;
    imap_range(std::size_t first, std::size_t last, std::size_t window, batch_runner run)
        : buffer_(window * sizeof(typename detail::result_codec<R>::stored)),
          run_(std::move(run)),
          next_(first),
          last_(last),
          window_(window) {}

    void advance() {
        if (next_ >= last_) {
            next_ = last_ + 1;  // past the end
            return;
        }
        if (next_ >= batch_end_) {
            batch_begin_ = next_;
            batch_end_ = std::min(last_, next_ + window_);
            run_(buffer_.ref(), batch_begin_, batch_end_);
        }
        current_ = detail::read_result<R>(buffer_.data(), next_ - batch_begin_);
        ++next_;
    }

    detail::result_buffer buffer_;
    batch_runner run_;
    std::size_t next_, last_, window_;
    std::size_t batch_begin_ = 0, batch_end_ = 0;
    R current_{};
};

}  // namespace shmpool
