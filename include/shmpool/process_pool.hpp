// shmpool::process_pool: persistent forked workers that run index tasks, typically writing into
// shared arrays in place.
//
// @code
// shmpool::process_pool pool(4);                       // at the top of main(), before threads
// auto out = shmpool::shared_array<double>::create("out", {n});
// pool.for_each(0, n, [out](std::size_t i) { out.data()[i] = f(i); });   // in place
// std::vector<long> sq = pool.map(0, 100, [](std::size_t i) { return long(i * i); });
// for (double x : pool.imap(0, 1'000'000'000, [](std::size_t i) { return 0.5 * i; })) use(x);
// @endcode
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/progress.hpp"
#include "shmpool/shared_array.hpp"

namespace shmpool {

/// How indices are handed to workers.
enum class schedule : std::uint8_t {
    dynamic,  ///< workers take chunks from a shared counter as they go (the default)
    static_,  ///< worker k of n gets the k-th contiguous n-th of the range, nothing shared
};

class process_pool;

/// The first-touch hint of a call (call_options::touch_rows()): which array's rows the tasks
/// write. Opaque; empty unless touch_rows() set it.
class row_hint {
public:
    /// Whether touch_rows() set a hint.
    explicit operator bool() const noexcept { return set_; }

private:
    friend struct call_options;
    friend class process_pool;
    detail::array_ref rows_{};
    bool set_ = false;
};

/// Options of one call.
struct call_options {
    schedule kind = schedule::dynamic;
    /// Indices per chunk for dynamic scheduling; 0 chooses one from the range and the workers.
    std::size_t chunk = 0;
    /// How many times the indices a dead worker did not complete are run again (on the other
    /// workers and on its replacement) before the call throws worker_died_error. Only those run
    /// again: the indices the worker had finished are not, and the one it was running when it
    /// died is the only one whose task may run twice (see call_result::rerun).
    int retries = 0;
    /// A progress line (done/total, rate, ETA) on stderr for calls that last over half a
    /// second. `automatic`: only when stderr is a terminal.
    progress show_progress = progress::automatic;
    /// The first-touch hint; set it with touch_rows().
    row_hint touched_rows{};

    /// Says that task i writes row i of `array` (a shared_array). Before each chunk, a worker
    /// then maps the chunk's rows with one read per 64 KiB (the kernel maps 16 pages per such
    /// fault on shared memory) instead of taking one write fault per 4 KiB page: a worker's
    /// first pass over rows it never touched runs several times faster. Harmless when the rows
    /// are mapped already.
    /// @code
    /// pool.for_each(0, rows, task, shmpool::call_options{}.touch_rows(grid));
    /// @endcode
    template <class Array>
    call_options& touch_rows(const Array& array) {
        touched_rows.rows_ = detail::array_access::ref(array);
        touched_rows.set_ = true;
        return *this;
    }
};

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

/// Options of a pool.
struct pool_options {
    /// Start the pool even though this process already runs other threads. Forking a process
    /// that runs threads (an OpenMP team, a logging thread) can leave the workers hanging on a
    /// lock a vanished thread held, so by default the constructor refuses; set this only if you
    /// know every such thread is fork-safe.
    bool allow_threads = false;
};

namespace detail {

/// Runs a task over [begin, end) in a worker. After each index it stores the next one in
/// *progress: the ledger from which the parent learns, should the worker die, which indices ran
/// to the end. Stops after an index when *stop becomes non-zero. An exception from the task
/// propagates, *progress then being the index that threw.
using range_runner = void (*)(const void* task, std::uint64_t begin, std::uint64_t end,
                              const std::atomic<std::uint32_t>* stop,
                              std::atomic<std::uint64_t>* progress);

template <class F>
void run_range(const void* task, std::uint64_t begin, std::uint64_t end,
               const std::atomic<std::uint32_t>* stop, std::atomic<std::uint64_t>* progress) {
    alignas(F) unsigned char storage[sizeof(F)];
    std::memcpy(storage, task, sizeof(F));  // F is trivially copyable: this makes a copy
    F& fn = *std::launder(reinterpret_cast<F*>(storage));
    std::uint64_t i = begin;
    // One index: the task, then the stop flag, then the progress (one store per index).
    const auto step = [&]() {
        fn(static_cast<std::size_t>(i));
        const bool stopping = stop->load(std::memory_order_relaxed) != 0;
        progress->store(++i, std::memory_order_relaxed);
        return stopping;
    };
    // Unrolled by four: for short tasks, a one-index loop runs at half speed or full speed
    // depending on where its branches fall in the code (measured on Intel Xeon: 0.4 to 1 ns per
    // empty task), and this code is compiled in the user's program, where we cannot align it.
    while (end - i >= 4)
        if (step() || step() || step() || step()) return;
    while (i < end)
        if (step()) return;
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
struct pool_internals;

template <class R>
constexpr void check_result() {
    static_assert(!std::is_void_v<R> && std::is_trivially_copyable_v<R>,
                  "shmpool::process_pool::map: the task must return a trivially copyable value "
                  "(a number, a plain struct, std::array); results travel through shared memory");
}

/// A temporary shared segment that map() and imap() results are written into; removed when
/// destroyed.
class SHMPOOL_API result_buffer {
public:
    explicit result_buffer(std::size_t bytes);
    ~result_buffer();
    result_buffer(const result_buffer&) = delete;
    result_buffer& operator=(const result_buffer&) = delete;
    const array_ref& ref() const noexcept { return ref_; }
    const std::byte* data() const noexcept { return data_; }

private:
    array_ref ref_;
    std::byte* data_ = nullptr;
};

/// The task map() runs: calls fn(i) and stores the result in slot i - base of the buffer.
template <class F, class R>
struct result_writer {
    F fn;
    array_ref out;
    std::size_t base;
    void operator()(std::size_t i) {
        const R r = fn(i);
        std::memcpy(find_segment(out).data + (i - base) * sizeof(R), &r, sizeof(R));
    }
};

}  // namespace detail

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
        : buffer_(window * sizeof(R)),
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
        std::memcpy(&current_, buffer_.data() + (next_ - batch_begin_) * sizeof(R), sizeof(R));
        ++next_;
    }

    detail::result_buffer buffer_;
    batch_runner run_;
    std::size_t next_, last_, window_;
    std::size_t batch_begin_ = 0, batch_end_ = 0;
    R current_{};
};

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
/// Failures: a task that throws stops the call and the call throws worker_error. A worker that
/// dies (SIGKILL, SIGSEGV, abort) is noticed at once and replaced; the other workers go on with
/// the call, and a ledger in shared memory (which chunk each worker holds, how far into it it
/// got) tells exactly which indices the dead worker did not complete. Those are run again
/// (call_options::retries), or the call throws worker_died_error listing them. A call that
/// returns normally and was not cancelled ran every index of its range. When the parent
/// dies, even by SIGKILL, the workers exit within a second. SIGINT and SIGTERM on the parent
/// (when it has no handler of its own) stop the workers, remove the arrays this process created
/// (non-persistent ones), and end the process with the usual status.
///
/// Fork and threads: construct the pool before this process starts any thread or OpenMP region
/// (the constructor checks, see pool_options::allow_threads). Tasks may use OpenMP and threads
/// inside the workers. Calls from several threads of the parent are serialised.
class SHMPOOL_API process_pool {
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
    /// what()) and worker_died_error (workers died and the indices they did not complete could
    /// not be run again: no retries, or none left; the error lists those indices).
    ///
    /// @code
    /// shmpool::process_pool pool(4);
    /// auto grid = shmpool::shared_array<double>::create("grid", {1000, 1000});
    /// pool.for_each(0, 1000, [grid](std::size_t row) { xt::row(grid.view(), row).fill(1.0); },
    ///               {.retries = 2});  // a worker killed meanwhile: its rows run again
    /// @endcode
    template <class F>
    call_result for_each(std::size_t first, std::size_t last, F fn, const call_options& opts = {}) {
        detail::check_task<F>();
        return run(first, last, &detail::run_range<F>, &fn, sizeof(F), opts);
    }

    /// Calls fn(i) for every i in [first, last) in the workers and returns the results in index
    /// order. The result type must be trivially copyable; results are written by the workers
    /// into a temporary shared buffer (removed afterwards), not sent as messages. Throws as
    /// for_each does; a cancelled call leaves default-constructed results where tasks did not
    /// run.
    template <class F>
    auto map(std::size_t first, std::size_t last, F fn, const call_options& opts = {})
        -> std::vector<std::invoke_result_t<F&, std::size_t>> {
        using R = std::invoke_result_t<F&, std::size_t>;
        detail::check_result<R>();
        std::vector<R> out(last > first ? last - first : 0);
        if (out.empty()) return out;
        detail::result_buffer buffer(out.size() * sizeof(R));
        for_each(first, last, detail::result_writer<F, R>{fn, buffer.ref(), first}, opts);
        std::memcpy(out.data(), buffer.data(), out.size() * sizeof(R));
        return out;
    }

    /// A lazy, ordered map: iterating the returned range yields fn(first), fn(first + 1), ...
    /// computed by the workers `window` indices at a time (0: a window of about 16 MiB of
    /// results). Memory stays flat whatever the length of the range: at most `window` results
    /// exist at once. The pool must outlive the range; no other call may run on the pool while
    /// the range is being iterated (they would wait: calls are serialised).
    template <class F>
    auto imap(std::size_t first, std::size_t last, F fn, std::size_t window = 0,
              const call_options& opts = {}) {
        using R = std::invoke_result_t<F&, std::size_t>;
        detail::check_result<R>();
        if (window == 0) window = std::max<std::size_t>(1, (std::size_t{16} << 20) / sizeof(R));
        return imap_range<R>(
            first, last, window,
            [this, fn, opts](const detail::array_ref& out, std::size_t b, std::size_t e) {
                for_each(b, e, detail::result_writer<F, R>{fn, out, b}, opts);
            });
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

    friend struct detail::pool_internals;
    std::unique_ptr<detail::pool_state> state_;
};

/// Called from inside a task: stops the current call early, as process_pool::cancel() does.
/// Throws error outside a pool worker.
SHMPOOL_API void cancel_call();

/// Called from inside a task: whether the current call was cancelled (long tasks may poll it).
/// False outside a pool worker.
SHMPOOL_API bool call_cancelled() noexcept;

}  // namespace shmpool
