// process_pool::submit(): the queue of submitted calls, the thread that runs them, the
// call_handle members, and the canceller that stops the one call a handle names.
#include "submission.hpp"

#include <string>
#include <utility>

#include "pool_state.hpp"
#include "shmpool/error.hpp"

namespace shmpool {
namespace detail {
namespace {

thread_local const submitted_call* running_here = nullptr;

void stop_flags(control_block& c) noexcept {
    c.cancelled.store(1, std::memory_order_release);
    c.stop.store(1, std::memory_order_release);
}

call_result cancelled_result() {
    call_result r;
    r.cancelled = true;
    return r;
}

}  // namespace

const submitted_call* current_submission() noexcept { return running_here; }

void call_canceller::begin(const submitted_call* call) noexcept {
    std::lock_guard lock(m);
    control->stop.store(0, std::memory_order_relaxed);
    control->cancelled.store(0, std::memory_order_relaxed);
    running = call;
    if (call && call->cancel_requested.load(std::memory_order_acquire)) stop_flags(*control);
}

void call_canceller::end() noexcept {
    std::lock_guard lock(m);
    running = nullptr;
}

void call_canceller::cancel(const submitted_call* call) noexcept {
    std::lock_guard lock(m);
    if (control && running == call) stop_flags(*control);
}

void call_canceller::cancel_submitted() noexcept {
    std::lock_guard lock(m);
    if (control && running) stop_flags(*control);
}

void call_canceller::detach() noexcept {
    std::lock_guard lock(m);
    control = nullptr;
    running = nullptr;
}

void submitted_call::finish(call_result r, std::exception_ptr e) noexcept {
    std::function<call_result()> done_with;  // the task's copies go when the call ends
    {
        std::lock_guard lock(m);
        result = std::move(r);
        failure = std::move(e);
        ended = true;
        done_with.swap(job);
    }
    ended_cv.notify_all();
}

submission_queue::submission_queue(std::size_t max_queued, when_queue_full full,
                                   std::shared_ptr<call_canceller> canceller)
    : max_queued_(max_queued), full_(full), canceller_(std::move(canceller)) {}

submission_queue::~submission_queue() {
    std::deque<std::shared_ptr<submitted_call>> never_started;
    {
        std::lock_guard lock(m_);
        stopping_ = true;
        never_started.swap(queue_);
    }
    space_cv_.notify_all();
    for (const auto& call : never_started) call->finish(cancelled_result(), nullptr);
    canceller_->cancel_submitted();
    if (thread_.joinable()) thread_.join();
}

void submission_queue::push(std::shared_ptr<submitted_call> call) {
    std::unique_lock lock(m_);
    const auto has_room = [&] { return max_queued_ == 0 || queue_.size() < max_queued_; };
    if (!has_room() && full_ == when_queue_full::throw_error)
        throw queue_full_error("process_pool::submit: " + std::to_string(queue_.size()) +
                               " submitted calls already wait to start (pool_options::"
                               "max_queued); get() an earlier call first, or raise max_queued");
    space_cv_.wait(lock, [&] { return stopping_ || has_room(); });
    if (stopping_) throw error("process_pool::submit: the pool is being destroyed");
    queue_.push_back(std::move(call));
    if (!thread_running_) {
        // The last thread left when the queue ran dry (it takes the lock no more): join it,
        // start another.
        if (thread_.joinable()) thread_.join();
        thread_running_ = true;
        thread_ = std::thread([this] { loop(); });
    }
}

void submission_queue::loop() {
    for (;;) {
        std::shared_ptr<submitted_call> call;
        {
            std::unique_lock lock(m_);
            if (queue_.empty()) {  // nothing to run: the thread ends (push() starts another)
                thread_running_ = false;
                return;
            }
            call = std::move(queue_.front());
            queue_.pop_front();
        }
        space_cv_.notify_one();
        if (call->cancel_requested.load(std::memory_order_acquire)) {
            call->finish(cancelled_result(), nullptr);
            continue;
        }
        running_here = call.get();
        try {
            call->finish(call->job(), nullptr);
        } catch (...) {
            call->finish({}, std::current_exception());
        }
        running_here = nullptr;
    }
}

}  // namespace detail

// ---- call_handle -------------------------------------------------------------------------

call_handle::call_handle() noexcept = default;
call_handle::call_handle(std::shared_ptr<detail::submitted_call> call) noexcept
    : call_(std::move(call)) {}
call_handle::call_handle(call_handle&&) noexcept = default;

call_handle& call_handle::operator=(call_handle&& other) noexcept {
    if (this != &other) {
        if (call_) {
            std::unique_lock lock(call_->m);
            call_->ended_cv.wait(lock, [&] { return call_->ended; });
        }
        call_ = std::move(other.call_);
    }
    return *this;
}

call_handle::~call_handle() {
    if (!call_) return;
    std::unique_lock lock(call_->m);
    call_->ended_cv.wait(lock, [&] { return call_->ended; });
}

bool call_handle::valid() const noexcept { return call_ != nullptr; }

bool call_handle::done() const noexcept {
    if (!call_) return false;
    std::lock_guard lock(call_->m);
    return call_->ended;
}

void call_handle::check_valid(const char* member) const {
    if (!call_)
        throw error(std::string("call_handle::") + member +
                    ": the handle holds no call (default-constructed, moved from, or get() was "
                    "called already)");
}

void call_handle::wait() const {
    check_valid("wait");
    std::unique_lock lock(call_->m);
    call_->ended_cv.wait(lock, [&] { return call_->ended; });
}

bool call_handle::wait_for_ns(std::chrono::nanoseconds timeout) const {
    check_valid("wait_for");
    std::unique_lock lock(call_->m);
    return call_->ended_cv.wait_for(lock, timeout, [&] { return call_->ended; });
}

void call_handle::cancel() noexcept {
    if (!call_) return;
    call_->cancel_requested.store(true, std::memory_order_release);
    if (call_->canceller) call_->canceller->cancel(call_.get());
}

call_result call_handle::get() {
    wait();
    const std::shared_ptr<detail::submitted_call> call = std::move(call_);
    std::lock_guard lock(call->m);
    if (call->failure) std::rethrow_exception(call->failure);
    return std::move(call->result);
}

// ---- process_pool::enqueue -----------------------------------------------------------------

call_handle process_pool::enqueue(std::function<call_result()> job) {
    detail::pool_state& s = *state_;
    if (s.broken) detail::throw_broken();
    auto call = std::make_shared<detail::submitted_call>();
    call->job = std::move(job);
    call->canceller = s.canceller;
    std::call_once(s.submissions_started, [&] {
        s.submissions =
            std::make_unique<detail::submission_queue>(s.max_queued, s.queue_full, s.canceller);
    });
    s.submissions->push(call);
    return call_handle(std::move(call));
}

}  // namespace shmpool
