// shmpool::call_handle: a call started by process_pool::submit(), which returns at once.
//
// @code
// shmpool::process_pool pool(4);
// auto grid = shmpool::shared_array<double>::create("grid", {rows, cols});
// shmpool::call_handle h = pool.submit(0, rows, [grid](std::size_t r) { fill_row(grid, r); });
// prepare_the_next_batch();               // runs while the workers fill the grid
// shmpool::call_result done = h.get();    // waits; rethrows the call's error, if any
// @endcode
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "shmpool/detail/export.hpp"

namespace shmpool {

class process_pool;

/// What a finished call did.
struct call_result {
    /// Indices whose task ran to the end, each counted once: the range's size unless the call
    /// was cancelled.
    std::size_t completed = 0;
    /// The call was stopped early by cancel() or cancel_call().
    bool cancelled = false;
    /// Workers that died during the call; each was replaced, and call_options::retries ran
    /// what they had not completed.
    std::size_t workers_died = 0;
    /// Indices a worker was running when it died, which the call then ran again: their task ran
    /// more than once, the first time perhaps in part. Every other index ran exactly once.
    std::vector<std::size_t> rerun;
};

namespace detail {
struct submitted_call;
}

/// A call submitted to a process_pool: it runs in the pool's order of submission while the
/// submitting thread goes on. Movable, not copyable; an empty handle (default-constructed or
/// moved from) is not valid().
///
/// Lifetime: destroying a handle whose call has not ended waits for the call (as the future
/// of std::async does), so that no work is silently dropped; cancel() first to stop it early.
/// The handle may outlive its pool: the pool's destructor cancels the calls it still holds
/// (queued ones never start, the running one stops as after cancel()), and get() then returns
/// a call_result with `cancelled` set.
///
/// Thread safety: the members may be called from any thread, but one handle is not meant to
/// be used by two threads at once, except cancel(), which is always safe. Not for use inside
/// a task (a worker process).
class SHMPOOL_API call_handle {
public:
    /// An empty handle: valid() is false.
    call_handle() noexcept;
    call_handle(call_handle&&) noexcept;
    /// Waits for the call this handle held (see the class comment), then takes `other`'s.
    call_handle& operator=(call_handle&& other) noexcept;
    call_handle(const call_handle&) = delete;
    call_handle& operator=(const call_handle&) = delete;
    /// Waits for the call to end (finished, failed or cancelled). Never throws.
    ~call_handle();

    /// Whether the handle holds a call (get() was not called yet, it was not moved from).
    bool valid() const noexcept;

    /// Whether the call has ended: finished, failed or cancelled. get() then returns at once.
    /// False for an empty handle.
    bool done() const noexcept;

    /// Blocks until the call has ended. Throws error for an empty handle.
    void wait() const;

    /// Blocks until the call has ended or `timeout` has passed; returns done().
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
        return wait_for_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
    }

    /// Asks the call to stop: a queued call never starts; a running one stops as after
    /// process_pool::cancel() (workers finish the index they are on and take no more). Either
    /// way get() returns a call_result with `cancelled` set. No effect on a call that has
    /// ended, or on an empty handle. Never throws; safe from any thread.
    void cancel() noexcept;

    /// Waits for the call, then returns its call_result, or throws what for_each() would have
    /// thrown for it (worker_error, worker_died_error, ...). Once: the handle is empty
    /// afterwards. Throws error for an empty handle.
    call_result get();

private:
    friend class process_pool;
    explicit call_handle(std::shared_ptr<detail::submitted_call> call) noexcept;
    bool wait_for_ns(std::chrono::nanoseconds timeout) const;
    void check_valid(const char* member) const;

    std::shared_ptr<detail::submitted_call> call_;
};

}  // namespace shmpool
