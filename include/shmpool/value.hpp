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
#include "shmpool/detail/object_storage.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/detail/value_storage.hpp"
#include "shmpool/error.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// A named shared value of T with its own lock (a robust_mutex), like Python's
/// multiprocessing.Value. Create it once, open it by name anywhere; the handle is small and
/// trivially copyable, so pool tasks capture it by value.
///
/// load() and store() each take the lock, so `v.store(v.load() + 1)` is NOT atomic: another
/// process may write between the two (the book's lost updates). Do read-modify-write under one
/// lock: `v.with_lock([](int& x) { ++x; })`, or `auto g = v.lock(); ++*g;`.
///
/// Owner death: if a process dies holding the lock, the next holder learns it. with_lock(f,
/// repair) runs repair(value) first and the value goes on; lock() returns a guard whose
/// owner_died() is true: repair, then mark_consistent(). with_lock(f), load() and store() throw
/// owner_died_error instead, and a guard released without mark_consistent() leaves the lock not
/// recoverable: every later lock throws not_recoverable_error, which says to re-create it.
///
/// Lifetime, names and errors are those of shared_array (see shared_array.hpp): removed when
/// the creating process exits unless persistent; `shmpool rm NAME` removes it too.
/// Fork: safe; a copy of the handle works in any process.
template <class T>
class value {
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::value<T>: T must be trivially copyable (a number, a plain struct, "
                  "std::array): it lives in shared memory");

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
        guard(robust_lock lock, T* v) : lock_(std::move(lock)), value_(v) {}
        robust_lock lock_;
        T* value_;
    };

    value() = default;

    /// Creates the value NAME in /dev/shm, set to `initial`. Throws as shared_array::create.
    static value create(std::string_view name, const T& initial = T{},
                        const create_options& opts = {}) {
        return value(storage::create(name, opts, identity(), initial));
    }
    /// Attaches to the value NAME. Throws not_found_error, type_mismatch_error (another kind,
    /// such as a raw_value or an array, or a value of another type: the message names both).
    static value open(std::string_view name) { return value(storage::open(name, identity())); }
    /// Attaches to the value NAME, or creates it set to `initial`; race-free (see
    /// shared_object::open_or_create).
    static value open_or_create(std::string_view name, const T& initial = T{},
                                const create_options& opts = {}) {
        return value(storage::open_or_create(name, opts, identity(), initial));
    }
    /// Removes the value NAME (see shared_array::remove); refuses what is not such a value.
    static void remove(std::string_view name) { storage::remove(name, identity()); }

    /// Takes the lock (blocking) and returns a guard holding it. Throws not_recoverable_error
    /// (naming the value and the remedy).
    guard lock() const {
        return guard(detail::lock_value<robust_lock>(kind, name(), mutex()), unsafe_data());
    }

    /// Waits at most `timeout` for the lock; an empty optional on timeout.
    /// Throws not_recoverable_error.
    template <class Rep, class Period>
    std::optional<guard> try_lock_for(const std::chrono::duration<Rep, Period>& timeout) const {
        robust_lock held = detail::lock_value<robust_lock>(kind, name(), mutex(), timeout);
        if (!held.owns_lock()) return std::nullopt;
        return guard(std::move(held), unsafe_data());
    }

    /// Runs f(T&) under the lock and returns what f returns.
    /// Throws owner_died_error if a holder died holding the lock (the value may be half-written;
    /// the lock is then left not recoverable): use the form with a repair function to go on.
    template <class F>
    decltype(auto) with_lock(F&& f) const {
        guard g = lock();
        if (g.owner_died()) detail::throw_value_owner_died(kind, name());
        return f(*g);
    }

    /// Runs f(T&) under the lock; if the previous holder died holding it, first runs
    /// repair(T&) (under the lock) and declares the value consistent again, so that the death
    /// costs a repair, not the value. repair may inspect and fix the value, or do nothing for a
    /// T that cannot be half-written (a counter). If repair throws, the lock is left not
    /// recoverable.
    /// @code
    /// hits.with_lock([](long& n) { ++n; }, [](long& n) { n = recount(); });
    /// @endcode
    template <class F, class Repair>
    decltype(auto) with_lock(F&& f, Repair&& repair) const {
        guard g = lock();
        if (g.owner_died()) {
            repair(*g);
            g.mark_consistent();
        }
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
    robust_mutex& mutex() const { return storage_.get()->mutex; }
    /// The value without the lock: reading or writing through it races with other processes.
    T* unsafe_data() const { return &storage_.get()->value; }
    std::string_view name() const noexcept { return storage_.where().text(); }

private:
    static constexpr detail::segment_kind kind = detail::segment_kind::value;
    using storage = detail::object_storage<detail::locked_cell<T>>;
    static detail::segment_identity identity() noexcept {
        return detail::identity_of<T>(kind, detail::locked_cell<T>::value_offset());
    }
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
        return raw_value(storage::create(name, opts, identity(), initial));
    }
    static raw_value open(std::string_view name) {
        return raw_value(storage::open(name, identity()));
    }
    static raw_value open_or_create(std::string_view name, const T& initial = T{},
                                    const create_options& opts = {}) {
        return raw_value(storage::open_or_create(name, opts, identity(), initial));
    }
    static void remove(std::string_view name) { storage::remove(name, identity()); }

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
    T* data() const { return storage_.get(); }
    std::string_view name() const noexcept { return storage_.where().text(); }

private:
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::raw_value<T>: T must be trivially copyable (a number, a plain struct, "
                  "std::array): it lives in shared memory");
    using storage = detail::object_storage<T>;
    static detail::segment_identity identity() noexcept {
        return detail::identity_of<T>(detail::segment_kind::raw_value);
    }
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
        guard(robust_lock lock, std::span<T> items) : lock_(std::move(lock)), items_(items) {}
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
    static void remove(std::string_view name) { storage::remove(name); }

    /// Takes the lock (blocking). Throws not_recoverable_error (naming the array).
    guard lock() const {
        return guard(detail::lock_value<robust_lock>(kind, name(), storage_.mutex()), items());
    }
    /// Waits at most `timeout` for the lock; an empty optional on timeout.
    template <class Rep, class Period>
    std::optional<guard> try_lock_for(const std::chrono::duration<Rep, Period>& timeout) const {
        robust_lock held = detail::lock_value<robust_lock>(kind, name(), storage_.mutex(), timeout);
        if (!held.owns_lock()) return std::nullopt;
        return guard(std::move(held), items());
    }
    std::size_t size() const { return storage_.count(); }
    robust_mutex& mutex() const { return storage_.mutex(); }
    T* unsafe_data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    static constexpr detail::segment_kind kind = detail::segment_kind::value_array;
    using storage = detail::array_value_storage<T, kind>;
    explicit value_array(storage s) : storage_(s) {}
    std::span<T> items() const { return {storage_.elements(), size()}; }
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
    static void remove(std::string_view name) { storage::remove(name); }

    static constexpr bool is_atomic = std::atomic_ref<T>::is_always_lock_free;

    /// An atomic view of element i (when is_atomic).
    std::atomic_ref<T> operator[](std::size_t i) const requires is_atomic {
        return std::atomic_ref<T>(data()[i]);
    }
    std::size_t size() const { return storage_.count(); }
    T* data() const { return storage_.elements(); }
    std::string_view name() const noexcept { return storage_.name(); }

private:
    using storage = detail::array_value_storage<T, detail::segment_kind::raw_array>;
    explicit raw_array(storage s) : storage_(s) {}
    storage storage_;
};

}  // namespace shmpool
