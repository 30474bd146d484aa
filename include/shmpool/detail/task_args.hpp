// The checked form of a pool task: a function that captures nothing, called as
// fn(i, args...) with arguments that the compiler checks and the pool copies for the call
// (containers and strings into a shared buffer, numbers and plain structs as they are).
#pragma once

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmpool/detail/pool_tasks.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool {

template <class T>
class shared_array;

namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_span : std::false_type {};
template <class T, std::size_t N>
struct is_span<std::span<T, N>> : std::true_type {};
template <class T>
struct is_reference_wrapper : std::false_type {};
template <class T>
struct is_reference_wrapper<std::reference_wrapper<T>> : std::true_type {};

template <class T>
inline constexpr bool is_text =
    std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
    std::is_same_v<T, const char*> || std::is_same_v<T, char*>;

/// Where a copied range lies in the call's buffer.
struct buffer_slice {
    std::size_t offset = 0;
    std::size_t count = 0;
};

/// How an argument of (decayed) type A is carried into the workers, and what fn receives.
template <class A, class = void>
struct arg_carrier {
    static constexpr bool ok = false;
};

// Text: copied into the buffer; fn receives std::string_view.
template <class A>
struct arg_carrier<A, std::enable_if_t<is_text<A>>> {
    static constexpr bool ok = true;
    using packed = buffer_slice;
    static std::string_view view(const A& a) { return std::string_view(a); }
    static std::size_t bytes(const A& a) { return view(a).size(); }
    static std::size_t align() { return 1; }
    static void copy(const A& a, std::byte* to) { std::memcpy(to, view(a).data(), bytes(a)); }
    static packed pack(const A& a, std::size_t offset) { return {offset, view(a).size()}; }
    static std::string_view unpack(const packed& p, const std::byte* base) {
        return {reinterpret_cast<const char*>(base + p.offset), p.count};
    }
};

// std::vector<T> and std::span<T> of trivially copyable T: copied; fn receives span<const T>.
template <class A>
struct arg_carrier<A, std::enable_if_t<is_vector<A>::value || is_span<A>::value>> {
    using T = std::remove_cv_t<typename A::value_type>;
    static constexpr bool ok = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>;
    using packed = buffer_slice;
    static std::size_t bytes(const A& a) { return a.size() * sizeof(T); }
    static std::size_t align() { return alignof(T); }
    static void copy(const A& a, std::byte* to) {
        if (!a.empty()) std::memcpy(to, a.data(), bytes(a));
    }
    static packed pack(const A& a, std::size_t offset) { return {offset, a.size()}; }
    static std::span<const T> unpack(const packed& p, const std::byte* base) {
        return {reinterpret_cast<const T*>(base + p.offset), p.count};
    }
};

// Numbers, enums, plain structs, std::array, shared_array handles: carried as they are.
template <class A>
struct arg_carrier<A, std::enable_if_t<!is_text<A> && !is_vector<A>::value && !is_span<A>::value>> {
    static constexpr bool ok = std::is_trivially_copyable_v<A> && !std::is_pointer_v<A> &&
                               !std::is_member_pointer_v<A> && !is_reference_wrapper<A>::value;
    using packed = A;
    static std::size_t bytes(const A&) { return 0; }
    static std::size_t align() { return 1; }
    static void copy(const A&, std::byte*) {}
    static packed pack(const A& a, std::size_t) { return a; }
    static const A& unpack(const packed& p, const std::byte*) { return p; }
};

template <class A>
using carried = arg_carrier<std::decay_t<const A>>;  // const: a char[N] becomes const char*

/// Fails the compilation, naming the fix, when an argument cannot be carried into a worker.
template <std::size_t I, class A>
constexpr void check_arg() {
    static_assert(!std::is_pointer_v<std::decay_t<A>> || is_text<std::decay_t<A>>,
                  "shmpool::with(...): an argument is a pointer: its address means nothing in a "
                  "worker process. Pass the data itself: a std::vector or std::span is copied "
                  "for the call and received as std::span<const T>; or put it in a "
                  "shared_array and pass the handle");
    static_assert(!is_reference_wrapper<std::decay_t<A>>::value,
                  "shmpool::with(...): std::ref / std::cref cannot reach a worker process: pass "
                  "the value itself (it is copied for the call)");
    static_assert(carried<A>::ok,
                  "shmpool::with(...): an argument cannot be carried into a worker: use numbers, "
                  "plain structs, std::array, shared_array handles, std::vector / std::span of "
                  "those (received as std::span<const T>) or text (received as "
                  "std::string_view)");
}

/// The arguments given to shmpool::with(): references to the caller's objects until the call
/// copies them (so a with(...) lives for one call: pass it straight to the pool).
template <class... A>
struct task_args {
    std::tuple<const A&...> refs;
};

/// What a checked task carries into the workers: fn (captureless, or a function pointer), the
/// packed arguments and the call's buffer. Trivially copyable.
template <class F, class... A>
struct carried_task {
    F fn;
    array_ref buffer{};
    bool has_buffer = false;
    flat_record<typename carried<A>::packed...> packed;

    decltype(auto) operator()(std::size_t i) {
        const std::byte* base = has_buffer ? find_segment(buffer).data : nullptr;
        return call(i, base, std::index_sequence_for<A...>{});
    }

private:
    template <std::size_t... I>
    decltype(auto) call(std::size_t i, const std::byte* base, std::index_sequence<I...>) {
        return fn(i, carried<A>::unpack(flat_get<I>(packed), base)...);
    }
};

/// Byte offsets of each argument's copy in the call's buffer, and the buffer's size.
template <class... A>
std::pair<std::array<std::size_t, sizeof...(A)>, std::size_t> buffer_layout(
    const std::type_identity_t<A>&... a) {
    std::array<std::size_t, sizeof...(A)> at{};
    std::size_t total = 0, k = 0;
    ((total = (total + carried<A>::align() - 1) / carried<A>::align() * carried<A>::align(),
      at[k++] = total, total += carried<A>::bytes(a)),
     ...);
    return {at, total};
}

/// A checked task ready to go: the carried task and the buffer its copied arguments live in
/// (none when no argument needs one), alive for the call.
template <class F, class... A>
struct prepared_task {
    std::optional<result_buffer> buffer;
    carried_task<F, A...> task;

    prepared_task(F fn, const task_args<A...>& args) : task{fn, {}, false, {}} {
        prepare(args, std::index_sequence_for<A...>{});
    }

private:
    template <std::size_t... I>
    void prepare(const task_args<A...>& args, std::index_sequence<I...>) {
        const auto [at, total] = buffer_layout<A...>(std::get<I>(args.refs)...);
        std::byte* base = nullptr;
        if (total > 0) {
            buffer.emplace(total);
            base = buffer->bytes();
            task.buffer = buffer->ref();
            task.has_buffer = true;
        }
        ((carried<A>::copy(std::get<I>(args.refs), base + at[I])), ...);
        ((set_packed<I>(task.packed, carried<A>::pack(std::get<I>(args.refs), at[I]))), ...);
    }
    template <std::size_t I, class H, class... T, class V>
    static void set_packed(flat_record<H, T...>& r, const V& v) {
        if constexpr (I == 0)
            r.head = v;
        else
            set_packed<I - 1>(r.tail, v);
    }
};

template <class F, class... A>
constexpr void check_checked_task() {
    static_assert((std::is_empty_v<F> && std::is_default_constructible_v<F>) ||
                      std::is_function_v<std::remove_pointer_t<F>>,
                  "shmpool::process_pool with shmpool::with(...): the function must not capture "
                  "anything (a captureless lambda [](std::size_t i, ...) or a function): pass "
                  "what it needs as arguments of with(...), which are checked and copied for "
                  "the call");
    static_assert(
        std::is_invocable_v<F&, std::size_t,
                            decltype(carried<A>::unpack(
                                std::declval<const typename carried<A>::packed&>(), nullptr))...>,
        "shmpool::process_pool with shmpool::with(...): the function must be callable "
        "as fn(std::size_t i, args...), where a std::vector or std::span argument "
        "arrives as std::span<const T> and text as std::string_view");
}

}  // namespace detail

/// The arguments of a checked pool task: pool.for_each(first, last, fn, shmpool::with(a, b)) calls
/// fn(i, a, b) in the workers. The arguments are copied when the call starts.
template <class... A>
detail::task_args<A...> with(const A&... args) {
    (detail::check_arg<0, A>(), ...);
    return {std::tuple<const A&...>(args...)};
}

}  // namespace shmpool
