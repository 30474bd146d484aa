// process_pool's members: starting the zygote and the workers, stopping them, and a call's
// preparation (the task, the options); pool_parent.cpp runs the call itself.
#include "shmpool/process_pool.hpp"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "exit_cleanup.hpp"
#include "os.hpp"
#include "pool_state.hpp"
#include "shmpool/shared_array.hpp"

namespace shmpool {
namespace detail {
namespace {

// The threads of this process, given a moment to drop to one: a thread that was just joined
// (shmpool's own, populating a new array, or a library's) is listed until the kernel reaps it.
std::size_t settled_threads_of_this_process() {
    std::size_t n = threads_of_this_process();
    for (int i = 0; i < 100 && n > 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        n = threads_of_this_process();
    }
    return n;
}

void refuse_threads(std::size_t workers, std::size_t threads) {
    throw error("shmpool::process_pool(" + std::to_string(workers) +
                "): this process already "
                "runs " +
                std::to_string(threads) +
                " threads (an OpenMP region, std::thread, "
                "a library's helper thread); workers forked now could hang on a lock that a "
                "vanished thread held. Construct the process_pool before any thread or OpenMP "
                "region starts, for example at the top of main(), or pass "
                "pool_options{.allow_threads = true} if those threads are fork-safe");
}

// Maps the control block, forks the zygote and asks it for the workers.
void start_pool(pool_state& s, std::size_t workers) {
    s.control_memory = map_shared_anonymous(sizeof(control_block), "the pool's control block");
    s.control = new (s.control_memory.data()) control_block;
    s.workers = workers;
    auto [requests_in, requests_out] = make_pipe("the pool's request pipe");
    install_termination_handlers();
    const pid_t parent = current_pid();
    const pid_t zygote = fork_process("the pool's helper process");
    if (zygote == 0) {
        requests_out = file_descriptor();
        zygote_main(*s.control, requests_in.release(), parent);
    }
    s.zygote = zygote;
    s.requests = std::move(requests_out);
    register_pool_zygote(zygote);
    for (std::size_t i = 0; i < workers; ++i) request_worker(s, i);
}

}  // namespace

void stop_pool(pool_state& s) noexcept {
    if (!s.control) return;
    control_block& c = *s.control;
    c.shutdown.store(1, std::memory_order_release);
    c.generation.fetch_add(1, std::memory_order_release);
    futex_wake_all(c.generation);
    s.requests = file_descriptor();  // the zygote kills and reaps what is left, and exits
    if (s.zygote > 0) {
        reap_with_deadline(s.zygote, deadline_after(std::chrono::seconds(2)));
        unregister_pool_zygote(s.zygote);
        s.zygote = 0;
    }
    s.control = nullptr;
    s.control_memory.reset();
}

result_buffer::result_buffer(std::size_t bytes) {
    static std::atomic<unsigned> counter{0};
    const std::string name =
        "shmpool-results-" + std::to_string(current_pid()) + "-" + std::to_string(counter++);
    // Not populated: the workers write it, so the parent's page tables would be wasted work.
    auto a = shared_array<std::uint8_t>::create(name, {bytes}, {.populate = false});
    ref_ = array_access::ref(a);
    data_ = reinterpret_cast<std::byte*>(a.data());
}

result_buffer::~result_buffer() {
    try {
        remove_segment(ref_.where);
    } catch (...) {
    }
}

void pool_internals::inject_fault(process_pool& pool, fault_point at, std::int64_t countdown) {
    control_block& c = *pool.state_->control;
    c.fault_countdown.store(countdown, std::memory_order_relaxed);
    c.fault_at.store(at, std::memory_order_release);
}

}  // namespace detail

std::size_t process_pool::usable_cores() noexcept { return detail::usable_cpus(); }

process_pool::process_pool(std::size_t workers, const pool_options& opts)
    : state_(std::make_unique<detail::pool_state>()) {
    using namespace detail;
    if (workers == 0 || workers > max_workers)
        throw invalid_argument_error("shmpool::process_pool(" + std::to_string(workers) +
                                     "): the number of workers must be 1.." +
                                     std::to_string(max_workers));
    const std::size_t threads = opts.allow_threads ? 1 : settled_threads_of_this_process();
    if (threads > 1) refuse_threads(workers, threads);
    state_->max_queued = opts.max_queued;
    state_->queue_full = opts.queue_full;
    try {
        start_pool(*state_, workers);
        state_->canceller->control = state_->control;
        ensure_workers_ready(*state_);
    } catch (...) {
        stop_pool(*state_);
        throw;
    }
}

process_pool::~process_pool() {
    if (!state_) return;
    state_->submissions.reset();  // queued calls end cancelled, the running one is stopped
    state_->canceller->detach();
    detail::stop_pool(*state_);
}

std::size_t process_pool::size() const noexcept { return state_->workers; }

std::vector<int> process_pool::worker_pids() const {
    std::vector<int> pids;
    for (std::size_t i = 0; i < state_->workers; ++i) {
        const detail::worker_slot& w = state_->control->slots[i];
        if (w.state.load() == detail::slot_state::ready) pids.push_back(w.pid.load());
    }
    return pids;
}

void process_pool::cancel() noexcept {
    detail::control_block& c = *state_->control;
    c.cancelled.store(1, std::memory_order_release);
    c.stop.store(1, std::memory_order_release);
}

call_result process_pool::run(std::size_t first, std::size_t last, detail::range_runner runner,
                              const void* task, std::size_t task_size, const call_options& opts) {
    using namespace detail;
    pool_state& s = *state_;
    std::lock_guard lock(s.call_mutex);
    if (s.broken) throw_broken();
    control_block& c = *s.control;
    if (last <= first) return {};
    ensure_workers_ready(s);

    std::memcpy(c.task, task, task_size);
    c.call.runner = runner;
    c.call.task_size = task_size;
    c.call.touches_rows = static_cast<bool>(opts.touched_rows);
    c.call.rows = opts.touched_rows.rows_;
    c.failure.claimed.store(0, std::memory_order_relaxed);
    s.canceller->begin(current_submission());  // clears stop and cancelled
    struct call_end {
        call_canceller& canceller;
        ~call_end() { canceller.end(); }
    } end{*s.canceller};
    return run_call(s, first, last, opts);
}

}  // namespace shmpool
