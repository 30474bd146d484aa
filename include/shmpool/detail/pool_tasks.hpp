// What process_pool's templates need to carry a task into the workers and results back: the
// loop that runs a task over a chunk (and keeps the ledger's progress), the compile-time checks
// of tasks and results, and the shared buffer map() and imap() results go through.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool {
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

/// Debug builds: when the closure at `task` holds, in a word of its own, an address of the
/// calling thread's live stack above it (a capture by reference, a pointer to a local), prints
/// a warning on stderr naming the fix, once (`warned`). A warning, not an error: bytes of
/// padding between captures may hold a stale address by chance (measured with clang -O0:
/// about 1 closure in 1,000 of the form [flag, x]).
SHMPOOL_API void warn_of_stack_addresses(const void* task, std::size_t size, const char* call,
                                         std::atomic<bool>& warned);
/// Whether the closure at `task` holds such an address (what the warning checks).
SHMPOOL_API bool holds_stack_address(const void* task, std::size_t size);

/// How a result of type R travels from a worker through shared memory: a trivially copyable R
/// (not a pointer: an address in a worker means nothing to the parent) as it is; std::pair and
/// std::tuple of such types, which the standard library does not make trivially copyable,
/// member by member. `ok` says whether R can travel at all.
template <class R>
struct result_codec {
    static constexpr bool ok = !std::is_void_v<R> && std::is_trivially_copyable_v<R> &&
                               !std::is_pointer_v<R> && std::is_default_constructible_v<R>;
    using stored = R;
    static stored encode(const R& r) { return r; }
    static R decode(const stored& s) { return s; }
};

/// A flat, trivially copyable record of the members of a tuple.
template <class... S>
struct flat_record {};
template <class H, class... T>
struct flat_record<H, T...> {
    H head;
    flat_record<T...> tail;
};

template <std::size_t I, class H, class... T>
const auto& flat_get(const flat_record<H, T...>& r) {
    if constexpr (I == 0)
        return r.head;
    else
        return flat_get<I - 1>(r.tail);
}

template <class... Ts>
struct result_codec<std::tuple<Ts...>> {
    static constexpr bool ok = (result_codec<Ts>::ok && ...);
    using stored = flat_record<typename result_codec<Ts>::stored...>;
    static stored encode(const std::tuple<Ts...>& t) {
        return encode_from(t, std::index_sequence_for<Ts...>{});
    }
    static std::tuple<Ts...> decode(const stored& s) {
        return decode_from(s, std::index_sequence_for<Ts...>{});
    }

private:
    template <std::size_t... I>
    static stored encode_from(const std::tuple<Ts...>& t, std::index_sequence<I...>) {
        stored s{};
        ((set<I>(s, result_codec<Ts>::encode(std::get<I>(t)))), ...);
        return s;
    }
    template <std::size_t I, class H, class... T, class V>
    static void set_in(flat_record<H, T...>& r, const V& v) {
        if constexpr (I == 0)
            r.head = v;
        else
            set_in<I - 1>(r.tail, v);
    }
    template <std::size_t I, class V>
    static void set(stored& s, const V& v) {
        set_in<I>(s, v);
    }
    template <std::size_t... I>
    static std::tuple<Ts...> decode_from(const stored& s, std::index_sequence<I...>) {
        return std::tuple<Ts...>(result_codec<Ts>::decode(flat_get<I>(s))...);
    }
};

template <class A, class B>
struct result_codec<std::pair<A, B>> {
    using tuple_codec = result_codec<std::tuple<A, B>>;
    static constexpr bool ok = tuple_codec::ok;
    using stored = typename tuple_codec::stored;
    static stored encode(const std::pair<A, B>& p) {
        return tuple_codec::encode(std::tuple<A, B>(p.first, p.second));
    }
    static std::pair<A, B> decode(const stored& s) {
        auto t = tuple_codec::decode(s);
        return {std::get<0>(t), std::get<1>(t)};
    }
};

/// Fails the compilation of a map() or imap() whose task returns what cannot travel.
template <class R>
constexpr void check_result() {
    static_assert(
        result_codec<R>::ok,
        "shmpool::process_pool::map/imap: the task's result cannot travel from a worker: it must "
        "be a number, a trivially copyable struct or std::array, or a std::pair / std::tuple of "
        "those (not a pointer, not a std::vector or std::string, not an xtensor expression: "
        "evaluate it, for example `return xt::sum(row)();` for a number)");
}

/// A temporary shared segment for one call: what map() and imap() results are written into,
/// and the copied arguments of a checked task; removed when destroyed.
class SHMPOOL_API result_buffer {
public:
    explicit result_buffer(std::size_t bytes);
    ~result_buffer();
    result_buffer(const result_buffer&) = delete;
    result_buffer& operator=(const result_buffer&) = delete;
    const array_ref& ref() const noexcept { return ref_; }
    const std::byte* data() const noexcept { return data_; }
    std::byte* bytes() noexcept { return data_; }

private:
    array_ref ref_;
    std::byte* data_ = nullptr;
};

/// The task map() runs: calls fn(i) and stores the encoded result in slot i - base.
template <class F, class R>
struct result_writer {
    using stored = typename result_codec<R>::stored;
    F fn;
    array_ref out;
    std::size_t base;
    void operator()(std::size_t i) {
        const stored r = result_codec<R>::encode(fn(i));
        std::memcpy(find_segment(out).data + (i - base) * sizeof(stored), &r, sizeof(stored));
    }
};

/// Reads result slot `k` of a buffer written by result_writer.
template <class R>
R read_result(const std::byte* buffer, std::size_t k) {
    typename result_codec<R>::stored s;
    std::memcpy(&s, buffer + k * sizeof s, sizeof s);
    return result_codec<R>::decode(s);
}

}  // namespace detail
}  // namespace shmpool
