// The parent's side of a pool: starting the zygote and the workers, publishing calls, waiting
// for them while watching for failures, and the signal handling that cleans up on Ctrl-C.
#include "shmpool/process_pool.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "exit_cleanup.hpp"
#include "os.hpp"
#include "pool_control.hpp"
#include "progress_line.hpp"
#include "shmpool/shared_array.hpp"

namespace shmpool {
namespace detail {

struct pool_state {
    control_block* control = nullptr;
    std::size_t workers = 0;
    pid_t zygote = 0;
    int requests = -1;  // write end of the zygote's request pipe
    bool broken = false;
    std::mutex call_mutex;
};

/// Stops the workers and the zygote and reaps them; bounded in time, never throws.
void stop_pool(pool_state& s) noexcept;

namespace {

using clock_type = std::chrono::steady_clock;

// The threads of this process, given a moment to drop to one: a thread that was just joined
// (shmpool's own, populating a new array, or a library's) is listed until the kernel reaps it.
std::size_t settled_threads_of_this_process() {
    std::size_t n = threads_of_this_process();
    for (int i = 0; i < 100 && n > 1; ++i) {
        ::usleep(1000);
        n = threads_of_this_process();
    }
    return n;
}

void request_worker(pool_state& s, std::size_t index) {
    control_block& c = *s.control;
    c.slots[index].pid.store(0, std::memory_order_relaxed);
    c.slots[index].state.store(slot_state::starting, std::memory_order_release);
    const std::uint32_t i = static_cast<std::uint32_t>(index);
    ssize_t n;
    do {
        n = ::write(s.requests, &i, sizeof i);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof i) c.slots[index].state.store(slot_state::dead, std::memory_order_release);
}

bool zygote_alive(pool_state& s) {
    if (s.broken) return false;
    int status = 0;
    if (::waitpid(s.zygote, &status, WNOHANG) == s.zygote) {
        s.broken = true;
        unregister_pool_zygote(s.zygote);
        return false;
    }
    return true;
}

[[noreturn]] void throw_broken() {
    throw error("shmpool::process_pool: the pool's helper process died, so no worker can be "
                "started; destroy this pool and construct a new one");
}

// Replaces dead workers and waits until every worker is ready to take a call.
void ensure_workers_ready(pool_state& s) {
    control_block& c = *s.control;
    for (std::size_t i = 0; i < s.workers; ++i)
        if (c.slots[i].state.load(std::memory_order_acquire) == slot_state::dead)
            request_worker(s, i);
    const auto deadline = clock_type::now() + std::chrono::seconds(30);
    for (;;) {
        const std::uint32_t seen = c.events.load(std::memory_order_acquire);
        std::size_t ready = 0;
        for (std::size_t i = 0; i < s.workers; ++i) {
            const slot_state st = c.slots[i].state.load(std::memory_order_acquire);
            if (st == slot_state::ready) ++ready;
            else if (st == slot_state::dead) request_worker(s, i);
        }
        if (ready == s.workers) return;
        if (!zygote_alive(s)) throw_broken();
        if (clock_type::now() > deadline)
            throw error("shmpool::process_pool: workers did not start within 30 s");
        futex_wait(c.events, seen, 20'000'000);
    }
}

std::string signal_text(int status) {
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(sig);
        return std::string("killed by SIG") + (abbrev ? abbrev : "?") + " (" + ::strsignal(sig) +
               ")";
    }
    return "exited with code " + std::to_string(WEXITSTATUS(status));
}

struct lost_range {
    pid_t pid;
    int status;
    std::uint64_t begin, end;
};

// Publishes a call and waits for it; returns the workers that died with indices in flight.
std::vector<lost_range> run_once(pool_state& s, std::uint64_t first, std::uint64_t last,
                                 const call_options& opts) {
    control_block& c = *s.control;
    std::uint32_t participants = 0;
    for (std::size_t i = 0; i < s.workers; ++i) {
        worker_slot& w = c.slots[i];
        w.participant = w.state.load(std::memory_order_acquire) == slot_state::ready;
        w.rank = participants;
        participants += w.participant;
    }
    if (participants == 0)  // every worker died since ensure_workers_ready(): rare, but no division
        throw error("shmpool::process_pool: no worker is ready to take the call; retry it");
    const std::uint64_t n = last - first;
    c.call.first = first;
    c.call.last = last;
    c.call.kind = opts.kind;
    c.call.participants = participants;
    c.call.chunk = opts.chunk ? opts.chunk
                              : std::max<std::uint64_t>(1, n / (std::uint64_t{participants} * 8));
    c.call.slot_count = static_cast<std::uint32_t>(s.workers);
    for (std::size_t i = 0; i < s.workers; ++i) {
        worker_slot& w = c.slots[i];
        if (!w.participant) continue;
        w.next.store(share_start(first, last, participants, w.rank), std::memory_order_relaxed);
        w.share_end = share_start(first, last, participants, w.rank + 1);
    }
    c.completed.store(0, std::memory_order_relaxed);
    const std::uint32_t generation = c.generation.load(std::memory_order_relaxed) + 1;
    c.generation.store(generation, std::memory_order_release);
    futex_wake_all(c.generation);

    progress_line line(opts.show_progress, n);
    std::vector<lost_range> lost;
    std::vector<bool> settled(s.workers, false);
    std::size_t pending = participants;
    int spins = 0;
    while (pending > 0) {
        const std::uint32_t seen = c.events.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < s.workers; ++i) {
            worker_slot& w = c.slots[i];
            if (!w.participant || settled[i]) continue;
            if (w.done_generation.load(std::memory_order_acquire) == generation) {
                settled[i] = true;
                --pending;
            } else if (w.state.load(std::memory_order_acquire) == slot_state::dead) {
                settled[i] = true;
                --pending;
                const std::uint64_t b = w.inflight_begin.load(), e = w.inflight_end.load();
                lost.push_back({w.pid.load(), w.wait_status.load(), b, e > b ? e : b});
                // Without retries the call will throw: stop the other workers now.
                if (opts.retries == 0 && e > b) c.stop.store(1, std::memory_order_release);
            }
        }
        if (pending == 0) break;
        line.update(c.completed.load(std::memory_order_relaxed));
        if (++spins < 100) {
            ::sched_yield();
            continue;
        }
        futex_wait(c.events, seen, 50'000'000);
        if (!zygote_alive(s)) {  // the workers die with it
            lost.push_back({s.zygote, 0, first, last});
            break;
        }
    }
    return lost;
}

[[noreturn]] void throw_task_failure(const control_block& c) {
    const call_failure& f = c.failure;
    const std::string what = "task for index " + std::to_string(f.index) + " threw " + f.type +
                             " in worker " + std::to_string(f.pid) + ": " + f.what;
    throw worker_error(what, f.index, f.pid, f.type, f.what);
}

[[noreturn]] void throw_death(const lost_range& l) {
    const int sig = WIFSIGNALED(l.status) ? WTERMSIG(l.status) : 0;
    const int code = WIFEXITED(l.status) ? WEXITSTATUS(l.status) : -1;
    std::string what = "worker " + std::to_string(l.pid) + " " + signal_text(l.status);
    what += l.end > l.begin ? " with indices [" + std::to_string(l.begin) + ", " +
                                  std::to_string(l.end) + ") in flight; they did not complete"
                            : " between tasks";
    what += "; the pool replaced it (call_options::retries re-runs lost indices)";
    throw worker_died_error(what, l.pid, sig, code, l.begin, l.end);
}

}  // namespace
result_buffer::result_buffer(std::size_t bytes) {
    static std::atomic<unsigned> counter{0};
    const std::string name = "shmpool-results-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++);
    // Not populated: the workers write it, so the parent's page tables would be wasted work.
    auto a = shared_array<std::uint8_t>::create(name, {bytes}, {.populate = false});
    ref_ = a.ref();
    data_ = reinterpret_cast<std::byte*>(a.data());
}

result_buffer::~result_buffer() {
    try {
        remove_segment(ref_.where);
    } catch (...) {
    }
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
    if (threads > 1)
        throw error("shmpool::process_pool(" + std::to_string(workers) + "): this process already "
                    "runs " + std::to_string(threads) + " threads (an OpenMP region, std::thread, "
                    "a library's helper thread); workers forked now could hang on a lock that a "
                    "vanished thread held. Construct the process_pool before any thread or OpenMP "
                    "region starts, for example at the top of main(), or pass "
                    "pool_options{.allow_threads = true} if those threads are fork-safe");
    void* mem = ::mmap(nullptr, sizeof(control_block), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) throw_errno(errno, "process_pool: cannot map its control block");
    state_->control = new (mem) control_block;
    state_->workers = workers;

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        ::munmap(mem, sizeof(control_block));
        throw_errno(errno, "process_pool: cannot create a pipe");
    }
    install_termination_handlers();
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t zygote = ::fork();
    if (zygote == 0) {
        ::close(pipe_fds[1]);
        zygote_main(*state_->control, pipe_fds[0], parent);
    }
    ::close(pipe_fds[0]);
    if (zygote < 0) {
        const int err = errno;
        ::close(pipe_fds[1]);
        ::munmap(mem, sizeof(control_block));
        throw_errno(err, "process_pool: cannot fork its helper process");
    }
    state_->zygote = zygote;
    state_->requests = pipe_fds[1];
    register_pool_zygote(zygote);
    for (std::size_t i = 0; i < workers; ++i) request_worker(*state_, i);
    try {
        ensure_workers_ready(*state_);
    } catch (...) {
        stop_pool(*state_);
        throw;
    }
}

process_pool::~process_pool() {
    if (state_) detail::stop_pool(*state_);
}

namespace detail {

void stop_pool(pool_state& s) noexcept {
    if (!s.control) return;
    control_block& c = *s.control;
    c.shutdown.store(1, std::memory_order_release);
    c.generation.fetch_add(1, std::memory_order_release);
    futex_wake_all(c.generation);
    if (s.requests >= 0) ::close(s.requests);  // the zygote kills and reaps what is left, exits
    s.requests = -1;
    if (s.zygote > 0) {
        const auto deadline = clock_type::now() + std::chrono::seconds(2);
        int status = 0;
        while (::waitpid(s.zygote, &status, WNOHANG) == 0) {
            if (clock_type::now() > deadline) {
                ::kill(s.zygote, SIGKILL);
                ::waitpid(s.zygote, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        unregister_pool_zygote(s.zygote);
        s.zygote = 0;
    }
    ::munmap(s.control, sizeof(control_block));
    s.control = nullptr;
}

}  // namespace detail

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
    c.call.touches_rows = opts.touches_rows;
    c.call.rows = opts.rows;
    c.stop.store(0, std::memory_order_relaxed);
    c.cancelled.store(0, std::memory_order_relaxed);
    c.failure.claimed.store(0, std::memory_order_relaxed);

    call_result result;
    const auto nothing_lost = [](const lost_range& l) { return l.end <= l.begin; };
    std::vector<lost_range> lost = run_once(s, first, last, opts);
    std::erase_if(lost, nothing_lost);
    result.completed = c.completed.load(std::memory_order_acquire);
    for (int retry = 0; retry < opts.retries && !lost.empty() && !c.failure.claimed.load(); ++retry) {
        ensure_workers_ready(s);
        std::vector<lost_range> again;
        for (const lost_range& l : lost) {
            std::vector<lost_range> more = run_once(s, l.begin, l.end, opts);
            result.completed += c.completed.load(std::memory_order_acquire);
            again.insert(again.end(), more.begin(), more.end());
        }
        lost = std::move(again);
        std::erase_if(lost, nothing_lost);
    }
    result.cancelled = c.cancelled.load(std::memory_order_acquire) != 0;
    if (!zygote_alive(s)) throw_broken();
    ensure_workers_ready(s);  // replace the dead now: the pool is whole again when we throw
    if (c.failure.claimed.load(std::memory_order_acquire) == 2) throw_task_failure(c);
    if (!lost.empty()) throw_death(lost.front());
    return result;
}

}  // namespace shmpool
