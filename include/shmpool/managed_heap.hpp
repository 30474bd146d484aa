// shmpool::managed_heap: a named heap in shared memory in which processes keep Boost.Interprocess
// containers (maps, vectors, strings), with shmpool's promises that Boost's managed segments
// lack: the space reserved at creation (never a SIGBUS), robust locks, and a heap whose writer
// died mid-change refused with a clear error instead of a deadlock. Needs the Boost headers
// (Debian's libboost-dev); not included by shmpool.hpp.
//
// @code
// namespace bip = boost::interprocess;
// using shm_string = bip::basic_string<char, std::char_traits<char>,
//                                      shmpool::managed_heap::allocator<char>>;
// using shm_map = bip::map<shm_string, double, std::less<>,   // std::less<>: string_view lookups
//                          shmpool::managed_heap::allocator<std::pair<const shm_string, double>>>;
//
// auto heap = shmpool::managed_heap::create("recent", 64 << 20);   // 64 MiB, reserved now
// {
//     auto held = heap.lock();                                      // the writers' lock
//     shm_map& m = heap.find_or_construct<shm_map>("prices", std::less<>(), heap.get_allocator<
//         std::pair<const shm_string, double>>());
//     m.emplace(shm_string("key1", heap.get_allocator<char>()), 3.5);
// }
// @endcode
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/indexes/iset_index.hpp>
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/segment_manager.hpp>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

/// A process died while it held one of a managed_heap's locks (the writers' lock, or a lock of
/// Boost's allocator inside it): what it was changing may be half done, so the heap is refused
/// from then on, by every process. Remove it and build it again.
class SHMPOOL_API heap_broken_error : public error {
public:
    using error::error;
};

namespace detail {

/// Boost's allocator locks, made robust: a robust_mutex that, when its owner died, is left not
/// recoverable and throws heap_broken_error (then and at every later lock). Meets Boost's
/// mutex interface (lock, try_lock, timed_lock, unlock).
class SHMPOOL_API heap_mutex {
public:
    void lock();
    bool try_lock();
    bool timed_lock(const boost::posix_time::ptime& abs_time);
    void unlock() noexcept;

private:
    robust_mutex m_;
};

/// The recursive form (Boost's segment manager locks its index of named objects recursively).
class SHMPOOL_API heap_recursive_mutex {
public:
    void lock();
    bool try_lock();
    bool timed_lock(const boost::posix_time::ptime& abs_time);
    void unlock() noexcept;

private:
    template <class Take>
    bool enter(Take take);  // recursion, or `take` of m_

    heap_mutex m_;
    int owner_ = 0;  // the thread ID (system-wide) holding it, 0: none
    unsigned count_ = 0;
};

struct heap_mutex_family {
    using mutex_type = heap_mutex;
    using recursive_mutex_type = heap_recursive_mutex;
};

/// The start of a heap's segment: what shmpool adds around Boost's managed memory.
struct heap_header;

}  // namespace detail

/// A named managed heap: Boost.Interprocess's segment manager (rbtree_best_fit with robust
/// locks, iset_index) in a shmpool segment of kind "heap": named like arrays, mode 0600,
/// listed by `shmpool ls`, removed by `rm` and `gc`, its space reserved when it is created.
///
/// What may be stored: what Boost.Interprocess allows in a managed segment: types holding no
/// raw pointer (boost::interprocess::offset_ptr instead), containers of
/// boost::interprocess (or boost::container) with managed_heap::allocator<T>, strings
/// likewise. Look keys up heterogeneously (a std::string_view with std::less<> on a map):
/// building a key string in the heap to find it allocates. Named objects are placed on 8-byte
/// boundaries: a type aligned more (alignas(16) and up, like shared_rwlock) must not be built
/// by find_or_construct (its constructor's aligned stores fault). Boost's containers are not safe
/// for concurrent writers: hold lock() while changing one (readers too, while others write).
///
/// A handle: trivially copyable, so pool tasks capture it by value. Safe across fork.
class SHMPOOL_API managed_heap {
public:
    using segment_manager =
        boost::interprocess::segment_manager<char,
                                             boost::interprocess::rbtree_best_fit<
                                                 detail::heap_mutex_family>,
                                             boost::interprocess::iset_index>;
    template <class T>
    using allocator = boost::interprocess::allocator<T, segment_manager>;

    managed_heap() = default;

    /// Creates the heap NAME of `bytes` (its managed space; the segment is a page larger).
    /// Throws already_exists_error, no_space_error, invalid_argument_error (under 64 KiB).
    static managed_heap create(std::string_view name, std::size_t bytes,
                               const create_options& opts = {});
    /// Opens the heap NAME. Throws not_found_error, type_mismatch_error (not a heap),
    /// format_error, heap_broken_error.
    static managed_heap open(std::string_view name);
    /// Removes the name (processes that have it open keep using it).
    static void remove(std::string_view name);

    /// Boost's segment manager: allocate, construct<T>(name), find<T>(name), destroy...
    /// Throws heap_broken_error once a writer died holding a lock.
    segment_manager& manager() const;
    template <class T>
    allocator<T> get_allocator() const {
        return allocator<T>(&manager());
    }
    /// The named object NAME, constructed from `args` if there is none (under the heap's
    /// allocator lock: race-free between processes).
    template <class T, class... Args>
    T& find_or_construct(std::string_view name, Args&&... args) const {
        return *guarded([&] {
            return manager().template find_or_construct<T>(std::string(name).c_str())(
                std::forward<Args>(args)...);
        });
    }
    /// The named object NAME, or nullptr.
    template <class T>
    T* find(std::string_view name) const {
        return guarded([&] { return manager().template find<T>(std::string(name).c_str()).first; });
    }

    /// The writers' lock, held while the guard lives. Throws heap_broken_error when its last
    /// holder died holding it (the heap is then refused for good, by every process).
    class guard {
    public:
        guard(guard&& other) noexcept : m_(other.m_) { other.m_ = nullptr; }
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        ~guard() {
            if (m_) m_->unlock();
        }

    private:
        friend class managed_heap;
        explicit guard(robust_mutex* m) noexcept : m_(m) {}
        robust_mutex* m_;
    };
    guard lock() const;

    /// Bytes of managed space, and how many are free.
    std::size_t size() const;
    std::size_t free_bytes() const;
    /// Whether a writer died holding a lock: every use but this then throws.
    bool broken() const;
    std::string_view name() const noexcept { return handle_.where().text(); }

private:
    explicit managed_heap(detail::mapped_segment& s) noexcept : handle_(s) {}
    detail::heap_header& header() const;
    [[noreturn]] void refuse() const;
    template <class F>
    auto guarded(F&& f) const {
        try {
            return f();
        } catch (const heap_broken_error&) {
            refuse();
        }
    }
    detail::segment_handle handle_;
};

}  // namespace shmpool
