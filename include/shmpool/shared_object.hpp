// shmpool::shared_object<T>: one named object in shared memory, a lock or a plain struct, that
// unrelated processes create, open or open-or-create by name, like Boost.Interprocess's named
// objects.
//
// @code
// // process A and process B, started from the shell in any order:
// auto m = shmpool::shared_object<shmpool::robust_mutex>::open_or_create("app.lock");
// {
//     shmpool::robust_lock held(*m);
//     if (held.owner_died()) { repair(); held.mark_consistent(); }
//     // ... the critical section ...
// }
// struct config { int version; double rate; };
// auto cfg = shmpool::shared_object<config>::create("app.config", config{3, 0.5});
// auto seen = shmpool::shared_object<config>::open("app.config", std::chrono::seconds(5));
// @endcode
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/identity.hpp"
#include "shmpool/detail/object_storage.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// A handle to one object of type T, constructed in a named segment of /dev/shm.
///
/// T is a trivially copyable type (numbers, plain structs, std::array) or one of shmpool's
/// locks: robust_mutex, shared_rwlock, semaphore, barrier, event. The object is constructed
/// (T(args...)) before its name appears, so no process ever sees it half-built; its kind and
/// type are recorded in the segment, and open() checks them, naming both types when they
/// differ. Its destructor is never run: other processes may still use it.
///
/// Names, permissions (create_options::mode), lifetime (removed when the creating process exits
/// or is interrupted, unless create_options::persistent), `shmpool ls`, `info`, `rm` and `gc`
/// are those of shared_array. The handle is small and trivially copyable: pool tasks capture
/// it by value, and a copy finds the object by name in the worker.
///
/// Fork: safe. Threads: the handle may be shared; the object's own synchronisation is T's.
template <class T>
class shared_object {
    static_assert(!std::is_const_v<T> && !std::is_volatile_v<T> && !std::is_reference_v<T> &&
                      !std::is_pointer_v<T>,
                  "shmpool::shared_object<T>: T must be a plain object type");
    static_assert(detail::process_shareable<T>::value,
                  "shmpool::shared_object<T>: T must be trivially copyable (numbers, plain "
                  "structs, std::array) or one of shmpool's locks (robust_mutex, shared_rwlock, "
                  "semaphore, barrier, event): other processes read it where it lies, so it "
                  "cannot own memory elsewhere (no std::string, std::vector or pointers)");

public:
    using element_type = T;

    /// An empty handle; using it throws shmpool::error.
    shared_object() = default;

    /// Creates the object NAME as T(args...), in /dev/shm, mode 0600. Throws
    /// already_exists_error (saying whether its creator still runs), invalid_argument_error (a
    /// bad name), no_space_error, system_error; what T's constructor throws (nothing is left).
    template <class... Args>
    static shared_object create(std::string_view name, Args&&... args) {
        return create(create_options{}, name, std::forward<Args>(args)...);
    }
    /// The same with options (mode, persistent, replace_existing).
    template <class... Args>
    static shared_object create(const create_options& opts, std::string_view name,
                                Args&&... args) {
        return shared_object(storage::create(name, opts, identity(), std::forward<Args>(args)...));
    }

    /// Attaches to the object NAME. Throws not_found_error, type_mismatch_error (it holds
    /// another kind or type: the message names both), system_error.
    static shared_object open(std::string_view name) {
        return shared_object(storage::open(name, identity()));
    }
    /// Attaches to the object NAME, waiting at most `timeout` for it to be created (a consumer
    /// started before its producer). Throws not_found_error when it did not appear in time.
    template <class Rep, class Period>
    static shared_object open(std::string_view name,
                              const std::chrono::duration<Rep, Period>& timeout) {
        return shared_object(
            storage::open_waiting(name, identity(), detail::deadline_after(timeout)));
    }

    /// Attaches to the object NAME, or creates it as T(args...) if there is none. Race-free:
    /// of the processes that race here, one creates it and the others open it, fully built.
    template <class... Args>
    static shared_object open_or_create(std::string_view name, Args&&... args) {
        return open_or_create(create_options{}, name, std::forward<Args>(args)...);
    }
    /// The same with options for the case where it creates. A lock that programs started from
    /// the shell share usually wants create_options{.persistent = true}: by default it goes
    /// when the process that created it exits.
    template <class... Args>
    static shared_object open_or_create(const create_options& opts, std::string_view name,
                                        Args&&... args) {
        return shared_object(
            storage::open_or_create(name, opts, identity(), std::forward<Args>(args)...));
    }

    /// Removes the name NAME (the memory is freed once no process maps the object). Throws
    /// not_found_error, type_mismatch_error (NAME holds something else: it is left alone).
    static void remove(std::string_view name) { storage::remove(name, identity()); }

    /// The object. Throws error for an empty handle, not_found_error when it was removed.
    T& operator*() const { return *storage_.get(); }
    T* operator->() const { return storage_.get(); }
    T* get() const { return storage_.get(); }

    /// The name (without a leading '/').
    std::string_view name() const noexcept { return storage_.where().text(); }
    /// The file that holds it: /dev/shm/NAME.
    std::string path() const { return storage_.where().path(); }
    /// False for a default-constructed handle.
    explicit operator bool() const noexcept { return !storage_.empty(); }

    /// How `shmpool ls` shows its type: "int64", "shmpool::robust_mutex", "app::config".
    static constexpr std::string_view type_name() noexcept {
        return detail::readable_type_name<T>();
    }

private:
    using storage = detail::object_storage<T>;
    explicit shared_object(storage s) : storage_(s) {}
    static detail::segment_identity identity() noexcept {
        return detail::identity_of<T>(detail::segment_kind::object);
    }
    storage storage_;
};

}  // namespace shmpool
