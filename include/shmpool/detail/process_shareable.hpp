// Which types may live in shared memory, used by several processes at once.
#pragma once

#include <type_traits>

namespace shmpool::detail {

/// Whether T may live in shared memory and be used by several processes: trivially copyable
/// types, and shmpool's locks (robust_mutex, shared_rwlock, semaphore, barrier, event), whose
/// headers specialize this. shared_object<T> requires it.
template <class T>
struct process_shareable : std::is_trivially_copyable<T> {};

}  // namespace shmpool::detail
