// The storage of the named values (value, raw_value, value_array, raw_array): the cells they
// keep in a segment, and the array form's storage. The single values are shared objects
// (object_storage.hpp) of a cell; the arrays hold a robust_mutex (locked kind) and `count`
// elements. Kind and element type are in the segment's trailer, checked by every open.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>

#include "shmpool/detail/identity.hpp"
#include "shmpool/detail/object_storage.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"

namespace shmpool::detail {

/// What a value<T> keeps in its segment: its lock, then the value.
template <class T>
struct locked_cell {
    explicit locked_cell(const T& v) : value(v) {}
    robust_mutex mutex;
    T value;

    /// Where `value` lies (recorded in the segment, for `shmpool ls`).
    static constexpr std::size_t value_offset() {
        return (sizeof(robust_mutex) + alignof(T) - 1) / alignof(T) * alignof(T);
    }
};

/// Rethrows not_recoverable_error from a value's lock with the value's name and the remedy.
[[noreturn]] SHMPOOL_API void throw_value_not_recoverable(segment_kind kind, std::string_view name);
/// owner_died_error from with_lock() without a repair function.
[[noreturn]] SHMPOOL_API void throw_value_owner_died(segment_kind kind, std::string_view name);

/// Locks a value's mutex into `lock`, naming the value if it is not recoverable.
template <class Lock, class... Args>
Lock lock_value(segment_kind kind, std::string_view name, robust_mutex& m, Args&&... args) {
    try {
        return Lock(m, std::forward<Args>(args)...);
    } catch (const not_recoverable_error&) {
        throw_value_not_recoverable(kind, name);
    }
}

/// The storage of value_array<T> (Kind value_array: with a robust_mutex) and raw_array<T>.
template <class T, segment_kind Kind>
class array_value_storage {
    static_assert(std::is_trivially_copyable_v<T>,
                  "shmpool::value_array / raw_array: T must be trivially copyable (a number, a "
                  "plain struct, std::array): it lives in shared memory");
    static constexpr bool locked = Kind == segment_kind::value_array;

public:
    /// Bytes from the start of the data to the first element.
    static constexpr std::size_t data_offset() {
        if (!locked) return 0;
        const std::size_t align = alignof(T) > 64 ? alignof(T) : 64;
        return (sizeof(robust_mutex) + align - 1) / align * align;
    }

    array_value_storage() = default;

    static array_value_storage create(std::string_view name, std::size_t count, const T& initial,
                                      const create_options& opts) {
        if (count == 0 || count > (std::size_t{1} << 40))
            throw invalid_argument_error("cannot create " + std::string(kind_name(Kind)) + " '" +
                                         std::string(name) + "': the size must be 1..2^40");
        const init_args args{count, &initial};
        return array_value_storage(create_segment(location::shm(name), dtype::uint8,
                                                  {data_offset() + count * sizeof(T)}, opts,
                                                  &make_view, {&initialize, &args}, identity()));
    }
    static array_value_storage open(std::string_view name) {
        return array_value_storage(
            open_segment(location::shm(name), dtype::uint8, &make_view, identity()));
    }
    static void remove(std::string_view name) {
        const segment_identity id = identity();
        remove_segment(location::shm(name), &id);
    }
    static segment_identity identity() noexcept { return identity_of<T>(Kind, data_offset()); }

    std::byte* base() const { return handle_.get(dtype::uint8, &make_view).data; }
    T* elements() const { return std::launder(reinterpret_cast<T*>(base() + data_offset())); }
    robust_mutex& mutex() const { return *std::launder(reinterpret_cast<robust_mutex*>(base())); }
    std::size_t count() const {
        return (handle_.get(dtype::uint8, &make_view).count - data_offset()) / sizeof(T);
    }
    std::string_view name() const noexcept { return handle_.where().text(); }

private:
    struct init_args {
        std::size_t count;
        const T* initial;
    };

    explicit array_value_storage(mapped_segment& s) : handle_(s) {}

    static void initialize(std::byte* data, const void* arg) {
        const auto& a = *static_cast<const init_args*>(arg);
        if constexpr (locked) new (data) robust_mutex;
        T* first = reinterpret_cast<T*>(data + data_offset());
        for (std::size_t i = 0; i < a.count; ++i) new (first + i) T(*a.initial);
    }

    static std::shared_ptr<void> make_view(const mapped_segment&) { return {}; }

    segment_handle handle_;
};

}  // namespace shmpool::detail
