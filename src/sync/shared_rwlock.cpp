// shmpool::shared_rwlock: readers counted per process in a slot table, a writer bit that turns
// new readers away, and a robust mutex that serialises writers and reports their death.
//
// state_ bits, changed only by the thread holding writer_ (waiters_bit: also by readers):
//   writer_bit        a writer holds writer_ and holds or waits for the lock: readers stay out
//   inconsistent_bit  a writer died; the next exclusive holder must repair (owner_died_error)
//   broken_bit        unlocked after a death without mark_consistent(): not recoverable
//   waiters_bit       a reader sleeps (or is about to) on state_: whoever clears writer_bit must
//                     wake it. Set by a reader only together with writer_bit (a compare-and-swap
//                     from a value that has it), cleared with writer_bit, so an uncontended
//                     unlock() makes no system call.
// A reader registers (slot count + 1, then its slot's bit in occupied_) and then checks state_;
// a writer sets writer_bit and then counts the readers, looking only at the slots whose bit is
// set in occupied_. All these operations are sequentially consistent, so at least one side sees
// the other.
//
// occupied_ (one bit per slot) lets a writer skip the slots no process has claimed: a lock that
// no reader has used costs a writer no slot look-up at all. A reader makes sure of its slot's
// bit after each hold it adds (a load, and a fetch_or in the rare case it is clear: the word is
// read-mostly). Only the holder of writer_ clears bits, of free slots (word 0), and it reads the
// slot again after clearing: if a process claimed it meanwhile, the bit is set back. So a hold
// that a reader keeps (it saw no writer_bit after ensuring its bit) is always in a slot whose bit
// the next writer sees.
//
// The thread id that marks the exclusive holder is cached per thread (gettid() is a system call
// in glibc), with the PID it was read in, so a forked child's thread reads its own.
#include "shmpool/shared_rwlock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "futex.hpp"
#include "os.hpp"

namespace shmpool {

static_assert(std::is_standard_layout_v<shared_rwlock>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(shared_rwlock::reader_slots % 64 == 0, "occupied_ has one bit per slot");
static_assert(sizeof(shared_rwlock) == 8320, "the size the class comment documents");

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::uint32_t writer_bit = 1u << 0;
constexpr std::uint32_t inconsistent_bit = 1u << 1;
constexpr std::uint32_t broken_bit = 1u << 2;
constexpr std::uint32_t waiters_bit = 1u << 3;

constexpr auto writer_probe_interval = milliseconds(10);  // readers: did the writer die?
constexpr auto first_reclaim_delay = milliseconds(10);    // writer: did a reader die?
constexpr auto max_reclaim_interval = milliseconds(200);
constexpr auto full_table_reclaim_interval = milliseconds(100);

// A slot word: bits 0-21 the reader's PID, 22-49 its start time (clock ticks since boot, modulo
// 2^28: a PID reused within 31 days at 100 Hz of the same tick is the only confusion), 50-63
// how many holds the process has through this slot. A slot stays with its process when the
// count drops to 0, so the next lock_shared finds it at once; dead owners' slots are reclaimed.
constexpr unsigned pid_bits = 22;
constexpr unsigned owner_bits = 50;
constexpr std::uint64_t pid_mask = (std::uint64_t{1} << pid_bits) - 1;
constexpr std::uint64_t start_mask = (std::uint64_t{1} << (owner_bits - pid_bits)) - 1;
constexpr std::uint64_t owner_mask = (std::uint64_t{1} << owner_bits) - 1;
constexpr std::uint64_t count_one = std::uint64_t{1} << owner_bits;
constexpr std::uint64_t max_count = (std::uint64_t{1} << (64 - owner_bits)) - 1;

std::uint64_t owner_of(std::uint64_t word) noexcept { return word & owner_mask; }
std::uint64_t count_of(std::uint64_t word) noexcept { return word >> owner_bits; }

constexpr const char* broken_message =
    "shmpool::shared_rwlock: not recoverable: it was unlocked after a writer's death without "
    "mark_consistent(); construct it again";
constexpr const char* writer_died_message =
    "shmpool::shared_rwlock: a writer died holding it; this thread holds it exclusively now: "
    "repair the data it protects, call mark_consistent(), then unlock()";
constexpr const char* writer_died_shared_message =
    "shmpool::shared_rwlock: a writer died holding it; this thread holds it EXCLUSIVELY now "
    "(not shared): repair the data it protects, call mark_consistent(), then unlock()";

/// This process as a slot owner: its PID and start time (read once per process).
std::uint64_t self_token() noexcept {
    static std::atomic<std::uint64_t> cached{0};
    const pid_t pid = detail::current_pid();
    std::uint64_t token = cached.load(std::memory_order_relaxed);
    if (token != 0 && (token & pid_mask) == static_cast<std::uint64_t>(pid)) return token;
    const std::uint64_t start = detail::process_start_time(pid);
    token = (static_cast<std::uint64_t>(pid) & pid_mask) | ((start & start_mask) << pid_bits);
    cached.store(token, std::memory_order_relaxed);
    return token;
}

/// This thread's id, without a system call after the first one (per thread, and again in a
/// forked child, whose thread has another id: detail::current_pid() is refreshed by fork).
pid_t this_thread_id() noexcept {
    thread_local pid_t tid = 0;
    thread_local pid_t tid_pid = 0;
    const pid_t pid = detail::current_pid();
    if (tid == 0 || tid_pid != pid) {
        tid = detail::current_tid();
        tid_pid = pid;
    }
    return tid;
}

/// Whether the process of a slot token is still running (the one rule, process_alive): it
/// exists, is not a zombie, and started when the token says (a reused PID is another process).
bool owner_alive(std::uint64_t token) noexcept {
    const auto pid = static_cast<pid_t>(token & pid_mask);
    const std::uint64_t start = (token >> pid_bits) & start_mask;
    return detail::process_alive(pid, start, start_mask);
}

}  // namespace

shared_rwlock::shared_rwlock() = default;

// --- writer side ------------------------------------------------------------------------------

bool shared_rwlock::lock_until(detail::steady_time deadline) {
    const taken t = take_exclusive(deadline);
    if (t == taken::owner_died) throw owner_died_error(writer_died_message);
    return t == taken::yes;
}

void shared_rwlock::unlock() noexcept {
    if (writer_tid_.load(std::memory_order_relaxed) != this_thread_id()) return;  // not holder
    writer_tid_.store(0, std::memory_order_relaxed);
    if (state_.load(std::memory_order_relaxed) & inconsistent_bit) {
        state_.fetch_or(broken_bit, std::memory_order_seq_cst);  // died, and nobody repaired
        state_.fetch_and(~inconsistent_bit, std::memory_order_seq_cst);
    }
    clear_writer_bit();
    writer_.unlock();
}

void shared_rwlock::mark_consistent() {
    if (writer_tid_.load(std::memory_order_relaxed) != this_thread_id() ||
        !(state_.load(std::memory_order_relaxed) & inconsistent_bit)) {
        detail::throw_errno(EINVAL,
                            "shmpool::shared_rwlock::mark_consistent(): not held "
                            "exclusively after a writer's death");
    }
    state_.fetch_and(~inconsistent_bit, std::memory_order_seq_cst);
}

/// Takes writer_ and then waits for the readers to leave.
shared_rwlock::taken shared_rwlock::take_exclusive(detail::steady_time deadline) {
    if (!lock_writer_mutex(deadline)) return taken::no;
    return finish_exclusive(deadline);
}

/// Takes writer_; a dead previous holder marks the lock inconsistent. False on timeout.
bool shared_rwlock::lock_writer_mutex(detail::steady_time deadline) {
    try {
        if (!writer_.try_lock_until(deadline)) return false;
    } catch (const owner_died_error&) {
        adopt_dead_writer();
    }
    if (state_.load(std::memory_order_seq_cst) & broken_bit) {
        writer_.unlock();
        throw not_recoverable_error(broken_message);
    }
    return true;
}

/// With writer_ just taken after its holder died: the mutex is fine again, the data is not.
void shared_rwlock::adopt_dead_writer() {
    writer_.mark_consistent();
    state_.fetch_or(inconsistent_bit, std::memory_order_seq_cst);
}

/// Holding writer_: turns new readers away and waits for those inside to leave.
shared_rwlock::taken shared_rwlock::finish_exclusive(detail::steady_time deadline) {
    writer_tid_.store(0, std::memory_order_relaxed);  // a dead writer's TID must not linger
    state_.fetch_or(writer_bit, std::memory_order_seq_cst);
    if (!wait_for_readers(deadline)) {
        clear_writer_bit();
        writer_.unlock();
        return taken::no;
    }
    writer_tid_.store(this_thread_id(), std::memory_order_relaxed);
    const bool died = state_.load(std::memory_order_seq_cst) & inconsistent_bit;
    return died ? taken::owner_died : taken::yes;
}

/// Lets readers in again; wakes them only if one of them said it sleeps.
void shared_rwlock::clear_writer_bit() noexcept {
    const std::uint32_t was =
        state_.fetch_and(~(writer_bit | waiters_bit), std::memory_order_seq_cst);
    if (was & waiters_bit) detail::futex_wake_all(state_);
}

/// Waits until no reader holds the lock. From ~10 ms on, checks now and then (backing off to
/// 200 ms) whether the readers it waits for are alive, and drops the holds of dead ones.
bool shared_rwlock::wait_for_readers(detail::steady_time deadline) {
    if (readers() == 0) return true;  // the common case: no clock, no system call
    auto interval = std::chrono::duration_cast<steady_clock::duration>(first_reclaim_delay);
    auto next_reclaim = steady_clock::now() + interval;
    for (;;) {
        const std::uint32_t seen = drained_.load(std::memory_order_seq_cst);
        if (readers() == 0) return true;
        const auto now = steady_clock::now();
        if (now >= deadline) return false;
        if (now >= next_reclaim) {
            reclaim_dead_readers(false);
            interval = std::min<steady_clock::duration>(interval * 2, max_reclaim_interval);
            next_reclaim = now + interval;
            continue;
        }
        detail::futex_wait_until(drained_, seen, std::min(deadline, next_reclaim));
    }
}

/// The holds of readers (holding writer_, with writer_bit set): those of the slots marked in
/// occupied_, and the anonymous ones. Clears the bits of free slots (see the file comment).
std::uint64_t shared_rwlock::readers() noexcept {
    std::uint64_t n = anonymous_.load(std::memory_order_seq_cst);
    for (std::size_t w = 0; w < occupied_words; ++w) {
        std::uint64_t bits = occupied_[w].load(std::memory_order_seq_cst);
        while (bits != 0) {
            const unsigned b = static_cast<unsigned>(__builtin_ctzll(bits));
            bits &= bits - 1;
            const std::uint64_t mask = std::uint64_t{1} << b;
            const std::atomic<std::uint64_t>& slot = slots_[w * 64 + b].word;
            std::uint64_t word = slot.load(std::memory_order_seq_cst);
            if (word == 0) {  // free: forget it, unless a process claims it meanwhile
                occupied_[w].fetch_and(~mask, std::memory_order_seq_cst);
                word = slot.load(std::memory_order_seq_cst);
                if (word != 0) occupied_[w].fetch_or(mask, std::memory_order_seq_cst);
            }
            n += count_of(word);
        }
    }
    return n;
}

/// Frees the slots of dead processes: those holding the lock, and with `idle_too` those with
/// no hold left. Returns whether holds were dropped (and then wakes a waiting writer).
bool shared_rwlock::reclaim_dead_readers(bool idle_too) noexcept {
    bool dropped = false;
    for (reader_slot& s : slots_) {
        std::uint64_t word = s.word.load(std::memory_order_seq_cst);
        if (word == 0 || (count_of(word) == 0 && !idle_too)) continue;
        if (owner_alive(owner_of(word))) continue;
        // Only a dead owner's word is replaced: a slot taken over meanwhile is left alone.
        if (s.word.compare_exchange_strong(word, 0, std::memory_order_seq_cst)) {
            dropped = dropped || count_of(word) > 0;
        }
    }
    if (dropped) notify_writer();
    return dropped;
}

// --- reader side ------------------------------------------------------------------------------

bool shared_rwlock::lock_shared_until(detail::steady_time deadline) {
    auto next_probe = steady_clock::now();  // check a writer's liveness at once, then every 10 ms
    for (;;) {
        std::uint32_t s = try_enter_shared();
        if (s == 0) return true;
        if (s & broken_bit) throw not_recoverable_error(broken_message);
        if (!(s & writer_bit)) {  // a writer died and the one who took over timed out
            if (!repair_first(deadline)) return false;
            continue;
        }
        const auto now = steady_clock::now();
        if (now >= next_probe) {
            next_probe = now + writer_probe_interval;
            if (writer_died()) {
                if (finish_exclusive(deadline) == taken::no) return false;
                throw owner_died_error(writer_died_shared_message);
            }
        }
        if (now >= deadline) return false;
        // Say that a reader sleeps, so that clear_writer_bit() wakes it; only while writer_bit
        // is set (if the state changed meanwhile, look at it again).
        if (!(s & waiters_bit)) {
            if (!state_.compare_exchange_strong(s, s | waiters_bit, std::memory_order_seq_cst))
                continue;
            s |= waiters_bit;
        }
        detail::futex_wait_until(state_, s, std::min(deadline, next_probe));
    }
}

/// For a reader kept out by writer_bit: whether the writer died. If so, this thread holds
/// writer_ now, with the lock marked inconsistent.
bool shared_rwlock::writer_died() {
    try {
        if (writer_.try_lock()) writer_.unlock();  // free: the writer has just left
        return false;
    } catch (const owner_died_error&) {
        adopt_dead_writer();
        return true;
    }
}

/// For a reader that found the lock inconsistent with no writer in it: takes it exclusively;
/// throws owner_died_error if the data still needs repair, else lets it go. False on timeout.
bool shared_rwlock::repair_first(detail::steady_time deadline) {
    const taken t = take_exclusive(deadline);
    if (t == taken::no) return false;
    if (t == taken::owner_died) throw owner_died_error(writer_died_shared_message);
    unlock();  // repaired meanwhile
    return true;
}

void shared_rwlock::unlock_shared() noexcept {
    if ((state_.load(std::memory_order_seq_cst) & writer_bit) &&
        writer_tid_.load(std::memory_order_relaxed) == this_thread_id()) {
        unlock();  // the hold is exclusive: lock_shared took over from a dead writer
        return;
    }
    remove_reader();
}

/// Registers a hold and keeps it if no writer holds or wants the lock: returns 0. Otherwise
/// takes the hold back and returns the state that turned it away.
std::uint32_t shared_rwlock::try_enter_shared() noexcept {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    if (s != 0) return s;
    add_reader();
    s = state_.load(std::memory_order_seq_cst);
    if (s == 0) return 0;
    remove_reader();
    return s;
}

void shared_rwlock::add_reader() noexcept {
    const std::uint64_t token = self_token();
    if (add_to_slot(token)) return;
    static std::atomic<std::int64_t> last_reclaim{0};  // the table is full: any dead owners?
    const std::int64_t now = steady_clock::now().time_since_epoch().count();
    std::int64_t last = last_reclaim.load(std::memory_order_relaxed);
    const auto every =
        std::chrono::duration_cast<steady_clock::duration>(full_table_reclaim_interval);
    if (now - last >= every.count() && last_reclaim.compare_exchange_strong(last, now)) {
        reclaim_dead_readers(true);
        if (add_to_slot(token)) return;
    }
    anonymous_.fetch_add(1, std::memory_order_seq_cst);
}

void shared_rwlock::remove_reader() noexcept {
    if (!remove_from_slot(self_token())) anonymous_.fetch_sub(1, std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) & writer_bit) notify_writer();
}

void shared_rwlock::notify_writer() noexcept {
    drained_.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake_all(drained_);
}

/// Adds a hold to a slot of this process, claiming a free slot if it has none with room, and
/// makes sure writers look at that slot. False when the table is full.
bool shared_rwlock::add_to_slot(std::uint64_t token) noexcept {
    const std::size_t home = (token & pid_mask) % reader_slots;
    for (std::size_t i = 0; i < reader_slots; ++i) {
        const std::size_t at = (home + i) % reader_slots;
        std::atomic<std::uint64_t>& w = slots_[at].word;
        std::uint64_t word = w.load(std::memory_order_relaxed);
        while (owner_of(word) == token && count_of(word) < max_count) {
            if (w.compare_exchange_weak(word, word + count_one, std::memory_order_seq_cst)) {
                mark_occupied(at);
                return true;
            }
        }
    }
    for (std::size_t i = 0; i < reader_slots; ++i) {
        const std::size_t at = (home + i) % reader_slots;
        std::uint64_t word = 0;
        if (slots_[at].word.compare_exchange_strong(word, token | count_one,
                                                    std::memory_order_seq_cst)) {
            mark_occupied(at);
            return true;
        }
    }
    return false;
}

/// After a hold was added to slot `at`: sets its bit in occupied_ if a writer cleared it (or
/// the slot is new). Usually a load of a word that is rarely written.
void shared_rwlock::mark_occupied(std::size_t at) noexcept {
    std::atomic<std::uint64_t>& bits = occupied_[at / 64];
    const std::uint64_t mask = std::uint64_t{1} << (at % 64);
    if (!(bits.load(std::memory_order_seq_cst) & mask)) {
        bits.fetch_or(mask, std::memory_order_seq_cst);
    }
}

/// Takes a hold off a slot of this process; false when it has none (an anonymous hold).
bool shared_rwlock::remove_from_slot(std::uint64_t token) noexcept {
    const std::size_t home = (token & pid_mask) % reader_slots;
    for (std::size_t i = 0; i < reader_slots; ++i) {
        std::atomic<std::uint64_t>& w = slots_[(home + i) % reader_slots].word;
        std::uint64_t word = w.load(std::memory_order_relaxed);
        while (owner_of(word) == token && count_of(word) > 0) {
            if (w.compare_exchange_weak(word, word - count_one, std::memory_order_seq_cst)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace shmpool
