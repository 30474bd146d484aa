// The calls of process_pool::submit(): each a submitted_call shared by its call_handle and the
// pool's submission_queue, whose thread (started by the first submit) runs them one at a time
// through the pool's ordinary call path. call_canceller ties a call_handle's cancel() to the
// pool's control block while that call runs, and outlives the pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "pool_control.hpp"
#include "shmpool/call_handle.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::detail {

struct submitted_call;

/// Which call the pool runs now, so that a handle's cancel() stops that call and no other. The
/// pool's run() resets the stop flags and records the running call under `m`; cancel() sets
/// them under `m` only if its call is the one recorded. `control` is null once the pool is
/// gone.
struct call_canceller {
    std::mutex m;
    control_block* control = nullptr;
    const submitted_call* running = nullptr;

    /// At the start of a call (under the pool's call mutex): clears the stop flags, records
    /// `call` (null: not a submitted call) and stops at once if it was cancelled meanwhile.
    void begin(const submitted_call* call) noexcept;
    /// At the end of a call.
    void end() noexcept;
    /// Stops `call` if it is the one running.
    void cancel(const submitted_call* call) noexcept;
    /// Stops the running call if it is a submitted one.
    void cancel_submitted() noexcept;
    /// The pool is being destroyed.
    void detach() noexcept;
};

struct submitted_call {
    std::function<call_result()> job;
    std::shared_ptr<call_canceller> canceller;
    std::atomic<bool> cancel_requested{false};

    std::mutex m;
    std::condition_variable ended_cv;
    bool ended = false;
    call_result result;
    std::exception_ptr failure;

    /// Records how the call ended and wakes its waiters.
    void finish(call_result r, std::exception_ptr e) noexcept;
};

/// The submitted call this thread is running (the submission thread), or null.
const submitted_call* current_submission() noexcept;

/// The queue of submitted calls and the thread that runs them. The thread ends as soon as the
/// queue is empty, so that the process is single-threaded again between bursts of submit()
/// (a process_pool can then be constructed); the next push() starts another.
class submission_queue {
public:
    submission_queue(std::size_t max_queued, when_queue_full full,
                     std::shared_ptr<call_canceller> canceller);
    /// Cancels the queued calls (they end cancelled, never started) and the running one, then
    /// joins the thread. Never throws.
    ~submission_queue();
    submission_queue(const submission_queue&) = delete;
    submission_queue& operator=(const submission_queue&) = delete;

    /// Queues `call`, starting the thread the first time; blocks or throws queue_full_error
    /// when max_queued calls wait, as `full` says.
    void push(std::shared_ptr<submitted_call> call);

private:
    void loop();

    std::size_t max_queued_;
    when_queue_full full_;
    std::shared_ptr<call_canceller> canceller_;
    std::mutex m_;
    std::condition_variable space_cv_;
    std::deque<std::shared_ptr<submitted_call>> queue_;
    bool stopping_ = false;
    bool thread_running_ = false;  // thread_ runs loop(); it ends when the queue is empty
    std::thread thread_;
};

}  // namespace shmpool::detail
