// shmpool::process_pool: persistent forked workers that run index tasks, typically writing into
// shared arrays in place.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "shmpool/error.hpp"

namespace shmpool {

/// How indices are handed to workers.
enum class schedule : std::uint8_t {
    dynamic,  ///< workers take chunks from a shared counter as they go (the default)
    static_,  ///< worker k of n gets the k-th contiguous n-th of the range, nothing shared
};

/// When the progress line is drawn on stderr.
enum class progress : std::uint8_t { automatic, always, never };

/// Options of one call.
struct call_options {
    schedule kind = schedule::dynamic;
    /// Indices per chunk for dynamic scheduling; 0 chooses one from the range and the workers.
    std::size_t chunk = 0;
    /// How many times indices lost with a dead worker are run again on a fresh one before the
    /// call throws worker_died_error.
    int retries = 0;
    /// A progress line (done/total, rate, ETA) on stderr for calls that last over half a
    /// second. `automatic`: only when stderr is a terminal.
    progress show_progress = progress::automatic;
};

/// What a finished call did.
struct call_result {
    std::size_t completed = 0;  ///< indices whose task ran to the end
    bool cancelled = false;     ///< the call was stopped early by cancel() or cancel_call()
};

/// Options of a pool.
struct pool_options {
    /// Start the pool even though this process already runs other threads. Forking a process
    /// that runs threads (an OpenMP team, a logging thread) can leave the workers hanging on a
    /// lock a vanished thread held, so by default the constructor refuses; set this only if you
    /// know every such thread is fork-safe.
    bool allow_threads = false;
};

namespace detail {

/// Runs a task over [begin, end) in a worker. Returns how many indices ran; stops early when
/// *stop becomes non-zero. On an exception, *failed_at is the index that threw.
using range_runner = std::uint64_t (*)(const void* task, std::uint64_t begin, std::uint64_t end,
                                       const std::atomic<std::uint32_t>* stop,
                                       std::uint64_t* failed_at);

template <class F>
std::uint64_t run_range(const void* task, std::uint64_t begin, std::uint64_t end,
                        const std::atomic<std::uint32_t>* stop, std::uint64_t* failed_at) {
    alignas(F) unsigned char storage[sizeof(F)];
    std::memcpy(storage, task, sizeof(F));  // F is trivially copyable: this makes a copy
    F& fn = *std::launder(reinterpret_cast<F*>(storage));
    std::uint64_t i = begin;
    try {
        for (; i < end; ++i) {
            fn(static_cast<std::size_t>(i));
            if (stop->load(std::memory_order_relaxed)) return i + 1 - begin;
        }
    } catch (...) {
        *failed_at = i;
        throw;
    }
    return end - begin;
}

/// Largest task (the callable with its captures) a call can carry, in bytes.
inline constexpr std::size_t max_task_bytes = 64 * 1024;

template <class F>
constexpr void check_task() {
    static_assert(std::is_invocable_v<F&, std::size_t>,
                  "shmpool::process_pool: the task must be callable as fn(std::size_t index)");
    static_assert(std::is_trivially_copyable_v<F>,
                  "shmpool::process_pool: the task cannot be carried into a worker process. "
                  "Capture by copy only trivially copyable values: numbers, plain structs, "
                  "std::array, shmpool::shared_array handles. Not std::string, std::vector, "
                  "std::function or references (make them shared arrays, or build them inside "
                  "the task).");
    static_assert(sizeof(F) <= max_task_bytes,
                  "shmpool::process_pool: the task's captures exceed 64 KiB");
}

struct pool_state;

}  // namespace detail

/// A pool of worker processes, forked once and reused by every call.
///
/// Workers are forked (through a small helper process) when the pool is constructed and live
/// until it is destroyed, so the page tables they build over shared arrays stay warm from call
/// to call. A call hands the task and the index range to the workers through shared memory; the
/// workers take chunks of indices and call the task on each one, in place.
///
/// What a task can capture: it is copied byte for byte into the workers, so it must be
/// trivially copyable (checked at compile time): numbers, plain structs, std::array, and
/// shmpool::shared_array handles, which find their array by name in the worker (even an array
/// created after the pool started). Raw pointers into the parent's memory are meaningless in a
/// worker that was forked before that memory existed.
///
/// Failures: a task that throws stops the call and the call throws worker_error; a worker that
/// dies (SIGKILL, SIGSEGV, abort) is noticed at once and replaced, and the call throws
/// worker_died_error (or re-runs the lost indices, see call_options::retries). When the parent
/// dies, even by SIGKILL, the workers exit within a second. SIGINT and SIGTERM on the parent
/// (when it has no handler of its own) stop the workers, remove the arrays this process created
/// (non-persistent ones), and end the process with the usual status.
///
/// Fork and threads: construct the pool before this process starts any thread or OpenMP region
/// (the constructor checks, see pool_options::allow_threads). Tasks may use OpenMP and threads
/// inside the workers. Calls from several threads of the parent are serialised.
class process_pool {
public:
    /// Starts `workers` worker processes (by default, the cores this process may use).
    /// Throws error when this process already runs other threads, invalid_argument_error for 0
    /// or more than 256 workers, system_error when fork fails.
    explicit process_pool(std::size_t workers = usable_cores(), const pool_options& opts = {});
    /// Stops and reaps the workers. Never throws.
    ~process_pool();
    process_pool(const process_pool&) = delete;
    process_pool& operator=(const process_pool&) = delete;

    /// The number of workers.
    std::size_t size() const noexcept;

    /// The PIDs of the live workers.
    std::vector<int> worker_pids() const;

    /// Calls fn(i) for every i in [first, last) in the workers and returns when all are done
    /// (or the call was cancelled). Throws worker_error (a task threw: index, PID, type,
    /// what()) and worker_died_error (a worker died and no retries were left).
    template <class F>
    call_result for_each(std::size_t first, std::size_t last, F fn, const call_options& opts = {}) {
        detail::check_task<F>();
        return run(first, last, &detail::run_range<F>, &fn, sizeof(F), opts);
    }

    /// Stops the current call early: workers finish the index they are on and take no more.
    /// The call returns normally with call_result::cancelled set. Safe from another thread and
    /// from a signal handler.
    void cancel() noexcept;

    /// The number of CPUs this process may run on (sched_getaffinity), at least 1.
    static std::size_t usable_cores() noexcept;

private:
    call_result run(std::size_t first, std::size_t last, detail::range_runner runner,
                    const void* task, std::size_t task_size, const call_options& opts);

    std::unique_ptr<detail::pool_state> state_;
};

/// Called from inside a task: stops the current call early, as process_pool::cancel() does.
/// Throws error outside a pool worker.
void cancel_call();

/// Called from inside a task: whether the current call was cancelled (long tasks may poll it).
/// False outside a pool worker.
bool call_cancelled() noexcept;

}  // namespace shmpool
