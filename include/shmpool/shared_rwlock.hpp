// shmpool::shared_rwlock: a readers-writer lock in shared memory for many readers and a rare
// writer, which survives the death of its holders.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/export.hpp"
#include "shmpool/detail/process_shareable.hpp"
#include "shmpool/detail/timed_wait.hpp"
#include "shmpool/error.hpp"
#include "shmpool/robust_mutex.hpp"

namespace shmpool {

/// A readers-writer lock for processes sharing memory: any number of readers (lock_shared) or
/// one writer (lock).
///
/// It lives in the shared memory itself: the process that sets the memory up constructs it
/// there once (`new (where) shared_rwlock`), and every process mapping that memory, at whatever
/// address, uses it; it holds no pointer. It takes 8320 bytes and is neither copyable nor
/// movable. Meets SharedTimedLockable: std::unique_lock and std::shared_lock work with it.
///
/// Writer preference: once a writer waits, new readers wait too, so a stream of readers cannot
/// starve it; it gets the lock as soon as the readers already inside have left.
/// Readers pay two atomic operations on a cache line of their own in the common case. An
/// uncontended writer makes no system call: it looks only at the reader slots that processes
/// have claimed, and wakes readers only when some sleep.
///
/// A reader that dies holding the lock (its process exits or is killed) does not block writers
/// for ever: readers are counted per process in a table of reader_slots entries, and a writer
/// that has waited about 10 ms for readers to leave checks that the processes it waits for
/// still exist (/proc/PID/stat, start time included, so a reused PID is not mistaken for the
/// reader) and drops the holds of dead ones. Limits: beyond reader_slots processes reading at
/// once, the further ones are counted anonymously, and a hold of theirs lost to a death is not
/// recoverable (only a timed writer gets out); readers must be in the writer's PID namespace;
/// the death of a reader thread whose process lives on is not detected (a process's holds are
/// one count).
///
/// A writer that dies holding the lock (or while waiting for readers to leave) is reported
/// like a robust_mutex owner's death: the next process to acquire the lock, writer or reader,
/// acquires it EXCLUSIVELY and gets owner_died_error, whether it called lock(), lock_shared() or
/// a try_ variant (readers waiting for the dead writer notice within about 10 ms). It then holds
/// the lock as a writer and must either repair the data, call mark_consistent() and unlock(),
/// or unlock() without mark_consistent(): the lock is then not recoverable, and every later
/// lock or lock_shared, in any process, throws not_recoverable_error. A timed call that times
/// out while taking over (readers still inside) returns false and hands the duty to the next
/// one; unlock_shared() after owner_died_error from a lock_shared call also releases the
/// exclusive hold.
///
/// Fork: safe. The lock must live in memory shared with the child; a child does not hold the
/// lock its parent held when it forked. Threads: the thread that locks must unlock.
class SHMPOOL_API shared_rwlock : public detail::timed_lockable<shared_rwlock>,
                                  public detail::timed_shared_lockable<shared_rwlock> {
public:
    /// Processes that can hold the lock in shared mode at once with a recoverable hold.
    static constexpr std::size_t reader_slots = 128;

    /// An unlocked lock. Throws system_error if its pthread mutex cannot be initialised.
    shared_rwlock();
    shared_rwlock(const shared_rwlock&) = delete;
    shared_rwlock& operator=(const shared_rwlock&) = delete;

    /// Blocks until this thread holds the lock exclusively.
    /// Throws owner_died_error (the lock IS held: see the class comment),
    /// not_recoverable_error, system_error (EDEADLK: this thread already holds it).
    void lock() { lock_until(detail::no_deadline); }
    /// Takes the lock if it is free; never waits (so never reclaims a dead reader's hold).
    /// Throws as lock().
    bool try_lock() { return lock_until(std::chrono::steady_clock::now()); }
    // try_lock_for(timeout), try_lock_until(deadline) (detail::timed_lockable): wait that long
    // at the latest for the exclusive hold; false on timeout; throw as lock().
    /// Releases the exclusive hold of this thread (does nothing if it has none). Never throws.
    /// After owner death without mark_consistent(), makes the lock not recoverable.
    void unlock() noexcept;

    /// Blocks until this thread holds the lock in shared mode.
    /// Throws owner_died_error (the lock is then held EXCLUSIVELY: see the class comment),
    /// not_recoverable_error, system_error (EDEADLK: this thread holds it exclusively).
    void lock_shared() { lock_shared_until(detail::no_deadline); }
    /// Takes a shared hold if no writer holds or waits for the lock; never waits.
    /// Throws as lock_shared().
    bool try_lock_shared() { return lock_shared_until(std::chrono::steady_clock::now()); }
    // try_lock_shared_for(timeout), try_lock_shared_until(deadline)
    // (detail::timed_shared_lockable): the same for a shared hold; throw as lock_shared().
    /// Releases a shared hold of this thread's process. Never throws.
    void unlock_shared() noexcept;

    /// After owner_died_error, declares the data repaired; the lock works normally once
    /// unlocked. Throws system_error (EINVAL) unless this thread holds the lock exclusively
    /// after a writer's death.
    void mark_consistent();

private:
    enum class taken { no, yes, owner_died };
    struct alignas(64) reader_slot {
        std::atomic<std::uint64_t> word{0};  // owner process and its hold count; 0 when free
    };

    friend class detail::timed_lockable<shared_rwlock>;
    friend class detail::timed_shared_lockable<shared_rwlock>;
    bool lock_until(detail::steady_time deadline);
    bool lock_shared_until(detail::steady_time deadline);
    bool lock_writer_mutex(detail::steady_time deadline);
    void adopt_dead_writer();
    bool writer_died();
    taken take_exclusive(detail::steady_time deadline);
    taken finish_exclusive(detail::steady_time deadline);
    bool wait_for_readers(detail::steady_time deadline);
    void clear_writer_bit() noexcept;
    bool repair_first(detail::steady_time deadline);
    std::uint32_t try_enter_shared() noexcept;
    void add_reader() noexcept;
    void remove_reader() noexcept;
    bool add_to_slot(std::uint64_t token) noexcept;
    void mark_occupied(std::size_t at) noexcept;
    bool remove_from_slot(std::uint64_t token) noexcept;
    void notify_writer() noexcept;
    std::uint64_t readers() noexcept;
    bool reclaim_dead_readers(bool idle_too) noexcept;

    robust_mutex writer_;                              // held by the writer, for its whole hold
    alignas(64) std::atomic<std::uint32_t> state_{0};  // futex: writer, inconsistent, broken,
                                                       // readers-waiting bits
    std::atomic<std::uint32_t> drained_{0};            // futex: bumped as readers leave a writer
    std::atomic<std::int32_t> writer_tid_{0};          // the thread holding it exclusively
    std::atomic<std::uint32_t> anonymous_{0};          // holds of readers without a slot
    static constexpr std::size_t occupied_words = reader_slots / 64;
    std::atomic<std::uint64_t> occupied_[occupied_words] = {};  // slots writers must look at
    reader_slot slots_[reader_slots];
};

/// A shared_rwlock may live in a shared_object.
template <>
struct detail::process_shareable<shared_rwlock> : std::true_type {};

}  // namespace shmpool
