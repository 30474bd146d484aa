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

#include "shmpool/call_handle.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/imap_range.hpp"
#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/detail/stream_ranges.hpp"
#include "shmpool/detail/task_args.hpp"
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

/// What process_pool::submit() does when pool_options::max_queued calls already wait to start.
enum class when_queue_full : std::uint8_t {
    block,        ///< waits until the pool starts one of them (backpressure)
    throw_error,  ///< throws queue_full_error at once
};

/// Options of a pool.
struct pool_options {
    /// Start the pool even though this process already runs other threads. Forking a process
    /// that runs threads (an OpenMP team, a logging thread) can leave the workers hanging on a
    /// lock a vanished thread held, so by default the constructor refuses; set this only if you
    /// know every such thread is fork-safe.
    bool allow_threads = false;
    /// Calls submit() may queue behind the running one, at most; 0: no limit.
    std::size_t max_queued = 64;
    /// What submit() does when max_queued calls are queued.
    when_queue_full queue_full = when_queue_full::block;
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
    ///
    /// Captures: the task is copied byte for byte into the workers, which are other processes.
    /// Capture by value ([x], [=]) numbers, plain structs and shared_array handles; never by
    /// reference ([&x], [&]) or a pointer to memory of this process: the workers would read
    /// their own, stale or unrelated, memory there. Debug builds warn (once per task type)
    /// when a capture holds an address on this thread's stack. To pass containers or text,
    /// use the checked form with shmpool::with(...) below.
    template <class F>
    call_result for_each(std::size_t first, std::size_t last, F fn, const call_options& opts = {}) {
        detail::check_task<F>();
        warn_of_stack_captures(fn, "for_each");
        return run_task(first, last, fn, opts);
    }

    /// The checked form: calls fn(i, args...) for every i in [first, last), where fn captures
    /// nothing (a captureless lambda or a function: the compiler checks it) and the arguments
    /// given to shmpool::with(...) are copied for the call: numbers, plain structs, std::array
    /// and shared_array handles as they are; a std::vector or std::span into shared memory,
    /// received as std::span<const T>; text (std::string, string_view, C strings) received as
    /// std::string_view. A pointer or std::ref does not compile, and the message says what to
    /// pass instead. Throws as for_each.
    /// @code
    /// std::vector<double> weights = load();
    /// pool.for_each(0, n, [](std::size_t i, std::span<const double> w, std::string_view tag,
    ///                        double scale) { /* ... */ }, shmpool::with(weights, "run-1", 2.0));
    /// @endcode
    template <class F, class... A>
    call_result for_each(std::size_t first, std::size_t last, F fn,
                         const detail::task_args<A...>& args, const call_options& opts = {}) {
        detail::check_checked_task<F, A...>();
        detail::prepared_task<F, A...> p(fn, args);
        return run_task(first, last, p.task, opts);
    }

    /// map() in the checked form: the results of fn(i, args...) in index order (see the
    /// checked for_each).
    template <class F, class... A>
    auto map(std::size_t first, std::size_t last, F fn, const detail::task_args<A...>& args,
             const call_options& opts = {}) {
        detail::check_checked_task<F, A...>();
        detail::prepared_task<F, A...> p(fn, args);
        return map_task(first, last, p.task, opts);
    }

    /// Calls fn(i) for every i in [first, last) in the workers and returns the results in index
    /// order. The result is a number, a trivially copyable struct or std::array, or a
    /// std::pair / std::tuple of those; workers write results into a temporary shared buffer
    /// (removed afterwards), not as messages. Throws as for_each does; a cancelled call leaves
    /// default-constructed results where tasks did not run.
    template <class F>
    auto map(std::size_t first, std::size_t last, F fn, const call_options& opts = {}) {
        warn_of_stack_captures(fn, "map");
        return map_task(first, last, fn, opts);
    }

    /// A lazy, ordered map: iterating the returned range yields fn(first), fn(first + 1), ...
    /// The workers compute ahead of the consumer into a ring of `window` result slots in shared
    /// memory (0: 4096, fewer when they exceed 16 MiB), in four windows submitted ahead (see
    /// submit()): a worker waits only when the ring is full, the consumer only when the next result
    /// is not there yet, and a slot is reused once the consumer has moved past it. Memory stays
    /// flat whatever the length of the range. Results as map().
    ///
    /// Failures reach the consumer in order: a task's worker_error, or a worker_died_error for
    /// the first index a dead worker did not complete (after call_options::retries) and whose
    /// result is missing, is thrown by the iterator at that index, after every earlier result
    /// (a result a worker stored whole before it died is delivered, although the error lists
    /// its index among those that may not have completed). Destroying the range before
    /// its end stops the work in flight and waits for it (a worker finishes the index it is
    /// on). process_pool::cancel() ends the iteration early. The pool must outlive the range;
    /// other calls on the pool wait for the windows already submitted.
    /// @code
    /// double total = 0;
    /// for (double x : pool.imap(0, 1'000'000'000, [](std::size_t i) { return 0.5 * i; }))
    ///     total += x;                  // the workers compute the next results meanwhile
    /// @endcode
    template <class F>
    auto imap(std::size_t first, std::size_t last, F fn, std::size_t window = 0,
              const call_options& opts = {}) {
        return value_stream<imap_range>(first, last, fn, window, opts, "imap");
    }

    /// imap() without the order: iterating the returned range yields (index, fn(index)) pairs
    /// as the results complete, through the same ring of `window` slots (so at most `window`
    /// results are in flight, unlike Python's imap_unordered, which queues every task at once).
    /// Failures and early stops as imap(): a task's error or a dead worker's lost index is
    /// thrown once every other result of its window that completed was yielded.
    /// @code
    /// for (auto [i, score] : pool.imap_unordered(0, n, [](std::size_t i) { return score(i); }))
    ///     best = std::max(best, score);
    /// @endcode
    template <class F>
    auto imap_unordered(std::size_t first, std::size_t last, F fn, std::size_t window = 0,
                        const call_options& opts = {}) {
        return value_stream<imap_unordered_range>(first, last, fn, window, opts, "imap_unordered");
    }

    /// A stream of fixed-shape blocks written in place: fn(i, out) fills block i, where `out`
    /// (a shmpool::block_out<T>&, an xtensor adaptor of `shape`) is the block's slot in a ring
    /// of `window` slots in shared memory (0: about 64 MiB of blocks, at least 4); iterating
    /// the returned range yields each block, in index order, as a const xtensor adaptor over
    /// the same slot: no copy on either side. A block is valid until the iterator advances;
    /// the ring's slot is then reused. Failures and early stops as imap().
    /// @code
    /// for (const auto& image : pool.imap_blocks<float>(0, n, {256, 256},
    ///          [files](std::size_t i, auto& out) { decode(files, i, out); }))
    ///     train_on(image);              // the next images are decoded meanwhile
    /// @endcode
    template <class T, class F>
    imap_blocks_range<T> imap_blocks(std::size_t first, std::size_t last,
                                     const std::vector<std::size_t>& shape, F fn,
                                     std::size_t window = 0, const call_options& opts = {}) {
        static_assert(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>,
                      "shmpool::process_pool::imap_blocks: blocks hold numbers or trivially "
                      "copyable structs");
        static_assert(std::is_invocable_v<F&, std::size_t, block_out<T>&>,
                      "shmpool::process_pool::imap_blocks: the task must be callable as "
                      "fn(std::size_t index, shmpool::block_out<T>& out)");
        detail::check_task<detail::ring_task<detail::block_write<T, F>>>();
        warn_of_stack_captures(fn, "imap_blocks");
        const detail::block_shape bs = block_shape_of(shape);
        const std::size_t bytes = bs.count * sizeof(T);
        if (window == 0) window = std::max<std::size_t>(4, (std::size_t{64} << 20) / (bytes + 64));
        const detail::ring_layout layout = stream_layout(first, last, window, bytes, 64);
        auto ring = std::make_unique<detail::result_buffer>(layout.total_bytes());
        auto core =
            make_stream(first, last, layout, *ring, detail::block_write<T, F>{fn, bs}, opts);
        return imap_blocks_range<T>(first, last, bs, std::move(ring), std::move(core));
    }

    /// Starts for_each(first, last, fn, opts) and returns at once: the call runs in the
    /// workers while this thread goes on, and the returned call_handle waits for it (wait(),
    /// done(), wait_for()), stops it (cancel()) and gives its call_result or rethrows its error
    /// (get()). Submitted calls run one at a time, in the order they were submitted (calls from
    /// several threads included); at most pool_options::max_queued wait to start, beyond which
    /// submit() blocks or throws queue_full_error, as pool_options::queue_full says. The task
    /// follows for_each()'s rules (captures by value). Throws error when the pool is broken.
    ///
    /// The calls run on a thread of this process, which submit() starts and which ends when no
    /// submitted call is left: while one is queued or running, this process runs that thread,
    /// and a process_pool constructed meanwhile refuses to start (pool_options::allow_threads).
    /// @code
    /// shmpool::call_handle a = pool.submit(0, rows, [grid](std::size_t r) { blur(grid, r); });
    /// shmpool::call_handle b = pool.submit(0, rows, [grid](std::size_t r) { edges(grid, r); });
    /// load_next_image();                   // meanwhile, in this thread
    /// a.get();                             // rethrows a's worker_error, if a task threw
    /// b.get();
    /// @endcode
    template <class F>
    [[nodiscard]] call_handle submit(std::size_t first, std::size_t last, F fn,
                                     const call_options& opts = {}) {
        detail::check_task<F>();
        warn_of_stack_captures(fn, "submit");
        return enqueue([this, first, last, fn, opts] { return run_task(first, last, fn, opts); });
    }

    /// submit() in the checked form (see the checked for_each): the arguments are copied when
    /// submit() is called, so the caller's containers may change or go away afterwards.
    template <class F, class... A>
    [[nodiscard]] call_handle submit(std::size_t first, std::size_t last, F fn,
                                     const detail::task_args<A...>& args,
                                     const call_options& opts = {}) {
        detail::check_checked_task<F, A...>();
        auto p = std::make_shared<detail::prepared_task<F, A...>>(fn, args);
        return enqueue(
            [this, first, last, p, opts] { return run_task(first, last, p->task, opts); });
    }

    /// Calls fn(row) for every row of `array` (a shared_array: row i is the slice i of its first
    /// dimension), in the workers, applying the first-touch treatment of
    /// call_options::touch_rows() itself: a worker maps a chunk's rows with one read fault per
    /// 64 KiB before running it, several times faster on rows it never touched. Throws as
    /// for_each.
    /// @code
    /// pool.for_each_row(grid, [grid](std::size_t row) { xt::row(grid.view(), row).fill(1.0); });
    /// @endcode
    template <class Array, class F>
    call_result for_each_row(const Array& array, F fn, call_options opts = {}) {
        opts.touch_rows(array);
        return for_each(0, array.shape().at(0), fn, opts);
    }

    /// map() over the rows of `array`, with for_each_row()'s first-touch treatment: the
    /// results of fn(row) in row order.
    template <class Array, class F>
    auto map_rows(const Array& array, F fn, call_options opts = {}) {
        opts.touch_rows(array);
        return map(0, array.shape().at(0), fn, opts);
    }

    /// Stops the current call early: workers finish the index they are on and take no more.
    /// The call returns normally with call_result::cancelled set. Safe from another thread and
    /// from a signal handler.
    void cancel() noexcept;

    /// The number of CPUs this process may run on (sched_getaffinity), at least 1.
    static std::size_t usable_cores() noexcept;

private:
    static constexpr std::size_t stream_windows = 4;  // windows of a stream submitted ahead
    call_handle enqueue(std::function<call_result()> job);

    // imap() and imap_unordered(): fn(i)'s results through a ring of `window` slots, read by
    // Range<R>.
    template <template <class> class Range, class F>
    auto value_stream(std::size_t first, std::size_t last, F fn, std::size_t window,
                      const call_options& opts, const char* call) {
        using R = std::invoke_result_t<F&, std::size_t>;
        if constexpr (!detail::result_codec<R>::ok) {
            detail::check_result<R>();
            return 0;  // not reached: keeps the compiler's report to the above
        } else {
            detail::check_task<F>();
            warn_of_stack_captures(fn, call);
            using stored = typename detail::result_codec<R>::stored;
            const detail::ring_layout layout =
                stream_layout(first, last, window, sizeof(stored), alignof(stored));
            auto ring = std::make_unique<detail::result_buffer>(layout.total_bytes());
            auto core =
                make_stream(first, last, layout, *ring, detail::value_write<F, R>{fn}, opts);
            return Range<R>(first, last, std::move(ring), std::move(core));
        }
    }

    // A stream's ring over [first, last): `window` slots (0: 4096, at most 16 MiB with stamps),
    // at most one per index, of `bytes` rounded up to `align`.
    static detail::ring_layout stream_layout(std::size_t first, std::size_t last,
                                             std::size_t window, std::size_t bytes,
                                             std::size_t align) {
        const std::size_t n = last > first ? last - first : 0;
        // Default: 4096 results, fewer if that exceeds 16 MiB. Not more: a ring far ahead of
        // the consumer lets the workers take its cores (measured on 2 cores, 20 us a stage:
        // a ring of 10^6 slots ran at 1.26x the slower stage, one of 1024 at 1.12x).
        if (window == 0)
            window = std::min<std::size_t>(4096, (std::size_t{16} << 20) / (bytes + 8));
        window = std::max<std::size_t>(1, std::min(window, std::max<std::size_t>(n, 1)));
        return detail::make_ring_layout(first, window, bytes, align);
    }

    // The stream over `layout`: windows of the range submitted ahead, each a call running
    // `write` into its slots (ring_task).
    template <class Write>
    std::unique_ptr<detail::stream_core> make_stream(std::size_t first, std::size_t last,
                                                     const detail::ring_layout& layout,
                                                     detail::result_buffer& ring, Write write,
                                                     const call_options& opts) {
        using task = detail::ring_task<Write>;
        return std::make_unique<detail::stream_core>(
            first, last, stream_windows, layout, ring.bytes(),
            [this, t = task{write, ring.ref(), layout}, opts](std::size_t b, std::size_t e) {
                return enqueue([this, b, e, t, opts] { return run_task(b, e, t, opts); });
            });
    }

    // The shape of imap_blocks' blocks; throws invalid_argument_error when it cannot be one.
    static detail::block_shape block_shape_of(const std::vector<std::size_t>& shape);
    call_result run(std::size_t first, std::size_t last, detail::range_runner runner,
                    const void* task, std::size_t task_size, const call_options& opts);

    template <class F>
    call_result run_task(std::size_t first, std::size_t last, F fn, const call_options& opts) {
        detail::check_task<F>();
        return run(first, last, &detail::run_range<F>, &fn, sizeof(F), opts);
    }

    template <class F>
    auto map_task(std::size_t first, std::size_t last, F fn, const call_options& opts) {
        using R = std::invoke_result_t<F&, std::size_t>;
        if constexpr (!detail::result_codec<R>::ok) {
            detail::check_result<R>();
            return std::vector<int>{};  // not reached: keeps the compiler's report to the above
        } else {
            using stored = typename detail::result_codec<R>::stored;
            std::vector<R> out(last > first ? last - first : 0);
            if (out.empty()) return out;
            detail::result_buffer buffer(out.size() * sizeof(stored));
            run_task(first, last, detail::result_writer<F, R>{fn, buffer.ref(), first}, opts);
            for (std::size_t k = 0; k < out.size(); ++k)
                out[k] = detail::read_result<R>(buffer.data(), k);
            return out;
        }
    }

    // Debug builds: warns once per task type when the task's captures hold an address on this
    // thread's stack (see for_each). The closure `fn` is this function's parameter: a capture
    // by reference points above it, into the caller's frames.
    template <class F>
    static void warn_of_stack_captures([[maybe_unused]] const F& fn,
                                       [[maybe_unused]] const char* call) {
#if !defined(NDEBUG) && !defined(SHMPOOL_NO_CAPTURE_CHECK)
        static std::atomic<bool> warned{false};
        if (!warned.load(std::memory_order_relaxed))
            detail::warn_of_stack_addresses(&fn, sizeof(F), call, warned);
#endif
    }

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
