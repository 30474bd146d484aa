// shmpool::value<T> and shmpool::raw_value<T>: named shared values, like Python's
// multiprocessing.Value (with its own lock) and RawValue (no lock), and their array forms.
//
// @code
// auto counter = shmpool::value<long>::create("counter", 0);
// counter.with_lock([](long& x) { ++x; });              // one atomic read-modify-write
// auto hits = shmpool::raw_value<long>::create("hits", 0);
// hits.fetch_add(1);                                     // atomic across processes, no lock
// @endcode
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {
namespace detail {

enum class value_kind : std::uint32_t { locked = 1, raw = 2 };

/// What a named value's segment starts with: tells value and raw_value segments apart, and
/// lets open() check the element type.
struct alignas(64) value_header {
    char magic[8];
    value_kind kind;
    std::uint32_t count;
    std::uint64_t element_size;
    char type[40];  // typeid(T).name(), truncated
};

/// Writes the header of a new value segment.
SHMPOOL_API void write_value_header(std::byte* at, value_kind kind, std::size_t count,
                                    std::size_t size, const char* type) noexcept;
/// Checks a value segment's header; throws format_error (not a value), type_mismatch_error.
SHMPOOL_API void check_value_header(const mapped_segment& s, value_kind kind, std::size_t size,
                                    std::size_t data_offset, const char* type);

/// Bytes from the start of a value segment to its mutex (locked kind) and to its elements.
inline constexpr std::size_t value_mutex_offset = sizeof(value_header);
template <class T>
constexpr std::size_t value_data_offset(value_kind kind) {
    const std::size_t after =
        kind == value_kind::locked ? value_mutex_offset + sizeof(robust_mutex) : value_mutex_offset;
    const std::size_t align = alignof(T) > 64 ? alignof(T) : 64;
    return (after + align - 1) / align * align;
}

/// The storage common to value, raw_value and their arrays: a named uint8 segment holding a
/// header, for the locked kind a robust_mutex, then `count` elements of T.
template <class T, value_kind Kind>
class value_storage {
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::value / raw_value: T must be trivially copyable (a number, a plain "
                  "struct, std::array): it lives in shared memory");

public:
    value_storage() = default;

    static value_storage create(std::string_view name, std::size_t count, const T& initial,
                                const create_options& opts) {
        if (count == 0 || count > UINT32_MAX)
            throw invalid_argument_error("cannot create value '" + std::string(name) +
                                         "': the count must be 1.." + std::to_string(UINT32_MAX));
        const init_args args{count, &initial};
        const std::size_t bytes = value_data_offset<T>(Kind) + count * sizeof(T);
        return value_storage(create_segment(location::shm(name), dtype::uint8, {bytes}, opts,
                                            &make_view, {&initialize, &args}));
    }

    static value_storage open(std::string_view name) {
        mapped_segment& s = open_segment(location::shm(name), dtype::uint8, &make_view);
        check_value_header(s, Kind, sizeof(T), value_data_offset<T>(Kind), typeid(T).name());
        return value_storage(s);
    }

    std::byte* base() const { return handle_.get(dtype::uint8, &make_view).data; }
    T* elements() const { return reinterpret_cast<T*>(base() + value_data_offset<T>(Kind)); }
    robust_mutex& mutex() const {
        return *std::launder(reinterpret_cast<robust_mutex*>(base() + value_mutex_offset));
    }
    std::size_t count() const { return reinterpret_cast<const value_header*>(base())->count; }
    std::string_view name() const noexcept { return handle_.where().text(); }

private:
    struct init_args {
        std::size_t count;
        const T* initial;
    };

    explicit value_storage(mapped_segment& s) : handle_(s) {}

    static void initialize(std::byte* data, const void* arg) {
        const auto& a = *static_cast<const init_args*>(arg);
        write_value_header(data, Kind, a.count, sizeof(T), typeid(T).name());
        if constexpr (Kind == value_kind::locked) new (data + value_mutex_offset) robust_mutex;
        T* first = reinterpret_cast<T*>(data + value_data_offset<T>(Kind));
        for (std::size_t i = 0; i < a.count; ++i) new (first + i) T(*a.initial);
    }

    // Values have no xtensor view; the factory's identity ties a mapping to this C++ type.
    static std::shared_ptr<void> make_view(const mapped_segment&) { return {}; }

    segment_handle handle_;
};

}  // namespace detail

/// A named shared value of T with its own lock (a robust_mutex), like Python's
/// multiprocessing.Value. Create it once, open it by name anywhere; the handle is small and
/// trivially copyable, so pool tasks capture it by value.
///
/// load() and store() each take the lock, so `v.store(v.load() + 1)` is NOT atomic: another
/// process may write between the two (the book's lost updates). Do read-modify-write under one
/// lock: `v.with_lock([](int& x) { ++x; })`, or `auto g = v.lock(); ++*g;`.
///
/// Owner death: if a process dies holding the lock, the next lock() returns a guard whose
/// owner_died() is true; repair the value, then mark_consistent(). A guard released without it
/// leaves the value's lock not recoverable (every later lock throws not_recoverable_error);
/// with_lock(), load() and store() throw owner_died_error in that case.
///
/// Lifetime, names and errors are those of shared_array (see shared_array.hpp): removed when
/// the creating process exits unless persistent; `shmpool rm NAME` removes it too.
/// Fork: safe; a copy of the handle works in any process.
template <class T>
class value {
public:
    /// Holds the lock and gives access to the value.
    class guard {
    public:
        T& operator*() const noexcept { return *value_; }
        T* operator->() const noexcept { return value_; }
        /// The previous holder died holding the lock: the value may be half-written.
        bool owner_died() const noexcept { return lock_.owner_died(); }
        /// Declares the value repaired after owner_died().
        void mark_consistent() { lock_.mark_consistent(); }

    private:
        friend class value;
        guard(robust_mutex& m, T* v) : lock_(m), value_(v) {}
        template <class Rep, class Period>
        guard(robust_mutex& m, T* v, const std::chrono::duration<Rep, Period>& timeout)
            : lock_(m, timeout), value_(v) {}
        robust_lock lock_;
        T* value_;
    };

    value() = default;

    /// Creates the value NAME in /dev/shm, set to `initial`. Throws as shared_array::create.
    static value create(std::string_view name, const T& initial = T{},
                        const create_options& opts = {}) {
        return value(storage::create(name, 1, initial, opts));
    }
    /// Attaches to the value NAME. Throws not_found_error, format_error (not a value),
    /// type_mismatch_error (a value of another type).
    static value open(std::string_view name) { return value(storage::open(name)); }
    /// Removes the value NAME (see shared_array::remove).
    static void remove(std::string_view name) {
        detail::remove_segment(detail::location::shm(name));
    }

    /// Takes the lock (blocking) and returns a guard holding it.
    /// Throws not_recoverable_error.
    guard lock() const { return guard(storage_.mutex(), storage_.elements()); }

    /// Waits at most `timeout` for the lock; an empty optional on timeout.
    /// Throws not_recoverable_error.
    template <class Rep, class Period>
    std::optional<guard> try_lock_for(const std::chrono::duration<Rep, Period>& timeout) const {
        guard g(storage_.mutex(), storage_.elements(), timeout);
        if (!g.lock_.owns_lock()) return std::nullopt;
        return std::optional<guard>(std::move(g));
    }

    /// Runs f(T&) under the lock and returns what f returns.
    /// Throws owner_died_error if a holder died (the lock is then left not recoverable).
    template <class F>
    decltype(auto) with_lock(F&& f) const {
        guard g = lock();
        if (g.owner_died())
            throw owner_died_error("value '" + std::string(name()) +
                                   "': a process died holding its lock; lock() it, repair the "
                                   "value and call mark_consistent()");
        return f(*g);
    }

    /// The value, read under the lock.
    T load() const {
        return with_lock([](const T& v) { return v; });
    }
    /// Sets the value under the lock.
    void store(const T& v) const {
        with_lock([&](T& x) { x = v; });
    }

    /// The lock itself, for use with other values or std::unique_lock.
    robust_mutex& mutex() const { return storage_.mutex(); }
    /// The value without the lock: reading or writing through it races with other processes.
    T* unsafe_data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    using storage = detail::value_storage<T, detail::value_kind::locked>;
    explicit value(storage s) : storage_(s) {}
    storage storage_;
};

/// A named shared value of T without a lock, like Python's multiprocessing.RawValue. When T is
/// lock-free as a std::atomic (integers, pointers' sizes, float, double on x86-64), load,
/// store, exchange, compare_exchange and (for arithmetic T) fetch_add and fetch_sub are atomic
/// across processes; otherwise only load and store exist, and they are plain copies that
/// another process may tear. data() gives plain access, for use under a lock of your own.
/// Names, lifetime and errors as value<T>. Fork: safe.
template <class T>
class raw_value {
public:
    raw_value() = default;

    static raw_value create(std::string_view name, const T& initial = T{},
                            const create_options& opts = {}) {
        return raw_value(storage::create(name, 1, initial, opts));
    }
    static raw_value open(std::string_view name) { return raw_value(storage::open(name)); }
    static void remove(std::string_view name) {
        detail::remove_segment(detail::location::shm(name));
    }

    /// Whether the operations below are atomic across processes.
    static constexpr bool is_atomic = std::atomic_ref<T>::is_always_lock_free;

    T load(std::memory_order order = std::memory_order_seq_cst) const {
        if constexpr (is_atomic)
            return ref().load(order);
        else
            return *data();
    }
    void store(const T& v, std::memory_order order = std::memory_order_seq_cst) const {
        if constexpr (is_atomic)
            ref().store(v, order);
        else
            *data() = v;
    }
    T exchange(const T& v,
               std::memory_order order = std::memory_order_seq_cst) const requires is_atomic {
        return ref().exchange(v, order);
    }
    bool compare_exchange(
        T& expected, const T& desired,
        std::memory_order order = std::memory_order_seq_cst) const requires is_atomic {
        return ref().compare_exchange_strong(expected, desired, order);
    }
    T fetch_add(T d, std::memory_order order = std::memory_order_seq_cst) const
        requires(is_atomic&& std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        return ref().fetch_add(d, order);
    }
    T fetch_sub(T d, std::memory_order order = std::memory_order_seq_cst) const
        requires(is_atomic&& std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        return ref().fetch_sub(d, order);
    }

    /// The value itself, unsynchronised.
    T* data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    using storage = detail::value_storage<T, detail::value_kind::raw>;
    explicit raw_value(storage s) : storage_(s) {}
    std::atomic_ref<T> ref() const { return std::atomic_ref<T>(*data()); }
    storage storage_;
};

/// A named shared array of `size` values of T under one lock (Python's multiprocessing.Array
/// with its lock). The guard gives a std::span over all elements.
template <class T>
class value_array {
public:
    class guard {
    public:
        std::span<T> operator*() const noexcept { return items_; }
        T& operator[](std::size_t i) const noexcept { return items_[i]; }
        bool owner_died() const noexcept { return lock_.owner_died(); }
        void mark_consistent() { lock_.mark_consistent(); }

    private:
        friend class value_array;
        guard(robust_mutex& m, std::span<T> items) : lock_(m), items_(items) {}
        template <class Rep, class Period>
        guard(robust_mutex& m, std::span<T> items,
              const std::chrono::duration<Rep, Period>& timeout)
            : lock_(m, timeout), items_(items) {}
        robust_lock lock_;
        std::span<T> items_;
    };

    value_array() = default;

    /// Creates NAME with `size` elements (1 or more), each set to `initial`.
    static value_array create(std::string_view name, std::size_t size, const T& initial = T{},
                              const create_options& opts = {}) {
        return value_array(storage::create(name, size, initial, opts));
    }
    static value_array open(std::string_view name) { return value_array(storage::open(name)); }
    static void remove(std::string_view name) {
        detail::remove_segment(detail::location::shm(name));
    }

    /// Takes the lock (blocking). Throws not_recoverable_error.
    guard lock() const { return guard(storage_.mutex(), {storage_.elements(), size()}); }
    /// Waits at most `timeout` for the lock; an empty optional on timeout.
    template <class Rep, class Period>
    std::optional<guard> try_lock_for(const std::chrono::duration<Rep, Period>& timeout) const {
        guard g(storage_.mutex(), {storage_.elements(), size()}, timeout);
        if (!g.lock_.owns_lock()) return std::nullopt;
        return std::optional<guard>(std::move(g));
    }
    std::size_t size() const { return storage_.count(); }
    robust_mutex& mutex() const { return storage_.mutex(); }
    T* unsafe_data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    using storage = detail::value_storage<T, detail::value_kind::locked>;
    explicit value_array(storage s) : storage_(s) {}
    storage storage_;
};

/// A named shared array of `size` values of T without a lock (Python's RawArray), with atomic
/// operations on each element where T allows them (see raw_value).
template <class T>
class raw_array {
public:
    raw_array() = default;

    static raw_array create(std::string_view name, std::size_t size, const T& initial = T{},
                            const create_options& opts = {}) {
        return raw_array(storage::create(name, size, initial, opts));
    }
    static raw_array open(std::string_view name) { return raw_array(storage::open(name)); }
    static void remove(std::string_view name) {
        detail::remove_segment(detail::location::shm(name));
    }

    static constexpr bool is_atomic = std::atomic_ref<T>::is_always_lock_free;

    /// An atomic view of element i (when is_atomic).
    std::atomic_ref<T> operator[](std::size_t i) const requires is_atomic {
        return std::atomic_ref<T>(data()[i]);
    }
    std::size_t size() const { return storage_.count(); }
    T* data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    using storage = detail::value_storage<T, detail::value_kind::raw>;
    explicit raw_array(storage s) : storage_(s) {}
    storage storage_;
};

}  // namespace shmpool
