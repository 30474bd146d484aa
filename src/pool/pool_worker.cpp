// A pool's workers: waiting for calls, taking chunks through the ledger, running them, and
// cancel_call() from inside a task.
#include <cxxabi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <typeinfo>

#include "os.hpp"
#include "pool_control.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool {
namespace detail {
namespace {

control_block* this_worker_control = nullptr;  // set in workers, for cancel_call()

void copy_text(char* to, std::size_t size, const char* from) {
    std::strncpy(to, from, size - 1);
    to[size - 1] = '\0';
}

std::string current_exception_type() {
    const std::type_info* t = abi::__cxa_current_exception_type();
    if (!t) return "unknown";
    int status = 0;
    char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
    std::string out = status == 0 && name ? name : t->name();
    std::free(name);
    return out;
}

// Called inside a catch block: records the first failure of the call and stops it.
void record_failure(control_block& c, std::uint64_t index) {
    std::uint32_t expected = 0;
    if (c.failure.claimed.compare_exchange_strong(expected, 1)) {
        c.failure.index = index;
        c.failure.pid = current_pid();
        copy_text(c.failure.type, sizeof c.failure.type, current_exception_type().c_str());
        try {
            throw;
        } catch (const std::exception& e) {
            copy_text(c.failure.what, sizeof c.failure.what, e.what());
        } catch (...) {
            copy_text(c.failure.what, sizeof c.failure.what, "(not a std::exception)");
        }
        c.failure.claimed.store(2, std::memory_order_release);
    }
    c.stop.store(1, std::memory_order_release);
}

// Maps the rows [begin, end) of the call's touch_rows() array with one read per 64 KiB: a read
// fault on shared memory maps the 16 pages around it (fault-around), where a write fault maps
// one. A hint only: any failure here is left for the task to meet.
void prefault_rows(const call_description& d, std::uint64_t begin, std::uint64_t end) {
    try {
        const mapped_segment& s = find_segment(d.rows);
        if (s.shape.empty() || s.shape[0] == 0) return;
        const std::size_t rows = s.shape[0];
        const std::size_t row_bytes = s.count / rows * dtype_size(s.type);
        const volatile std::byte* p = s.data + std::min<std::uint64_t>(begin, rows) * row_bytes;
        const volatile std::byte* stop = s.data + std::min<std::uint64_t>(end, rows) * row_bytes;
        for (; p < stop; p += 64 * 1024) (void)*p;
    } catch (...) {
    }
}

// Fault injection for tests: dies here if the pool was told to (see fault_point).
inline void maybe_fault(control_block& c, fault_point at) noexcept {
    if (c.fault_at.load(std::memory_order_relaxed) != at) [[likely]]
        return;
    if (c.fault_countdown.fetch_sub(1, std::memory_order_acq_rel) == 1)
        send_signal(current_pid(), SIGKILL);
}

// One chunk taken by a worker: [begin, end), chunk k of share s.
struct chunk_claim {
    std::uint64_t begin = 0, end = 0;
};

// The previous taker of a share took chunk k; if its claim still says "attempting", it may have
// died right after its CAS: record for it that the chunk is its own (see pool_control.hpp).
void confirm_claim(worker_slot& taker, std::uint64_t share, std::uint64_t k) {
    std::uint64_t attempting = pack_claim(claim_state::attempting, share, k);
    if (taker.claim.load(std::memory_order_acquire) != attempting) return;
    taker.claim.compare_exchange_strong(attempting, pack_claim(claim_state::won, share, k),
                                        std::memory_order_acq_rel);
}

// Takes the next chunk of share `s` for worker `me`; false when the share is used up.
bool take_chunk(control_block& c, std::uint32_t me, std::uint32_t s, chunk_claim& out) {
    worker_slot& share = c.slots[s];
    worker_slot& mine = c.slots[me];
    const std::uint64_t chunk = c.call.chunk;
    const std::uint64_t chunks = share.share_chunks;
    std::uint64_t seen = share.taken.load(std::memory_order_acquire);
    for (;;) {
        const std::uint64_t k = taken_chunks(seen);
        if (k >= chunks) return false;
        if (k > 0 && taken_by(seen) != me) {
            confirm_claim(c.slots[taken_by(seen)], s, k - 1);
            maybe_fault(c, fault_point::after_confirm);
        }
        const std::uint64_t begin = share.share_begin + k * chunk;
        mine.progress.store(begin, std::memory_order_relaxed);
        mine.claim.store(pack_claim(claim_state::attempting, s, k), std::memory_order_relaxed);
        maybe_fault(c, fault_point::after_attempt);
        // acq_rel: the claim and progress above are visible to whoever sees the new `taken`.
        if (share.taken.compare_exchange_weak(seen, pack_taken(k + 1, me),
                                              std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
            maybe_fault(c, fault_point::after_take);
            mine.claim.store(pack_claim(claim_state::won, s, k), std::memory_order_relaxed);
            out.begin = begin;
            out.end = std::min(begin + chunk, share.share_end);
            return true;
        }
    }
}

// Runs a chunk with the call's task; true when the call should go on.
bool run_chunk(control_block& c, worker_slot& slot, const chunk_claim& ch) {
    maybe_fault(c, fault_point::before_run);
    if (c.call.touches_rows) prefault_rows(c.call, ch.begin, ch.end);
    bool go_on = true;
    try {
        c.call.runner(c.task, ch.begin, ch.end, &c.stop, &slot.progress);
    } catch (...) {
        record_failure(c, slot.progress.load(std::memory_order_relaxed));
        go_on = false;
    }
    // Only this worker writes `done`: no locked instruction, no shared line.
    slot.done.store(slot.done.load(std::memory_order_relaxed) +
                        (slot.progress.load(std::memory_order_relaxed) - ch.begin),
                    std::memory_order_relaxed);
    return go_on && !c.stop.load(std::memory_order_acquire);
}

// Runs chunks until none is left: from its own share, then (dynamic scheduling) from the
// others', starting with the next worker's.
void run_call(control_block& c, std::uint32_t me) {
    const call_description& d = c.call;
    chunk_claim ch;
    while (!c.stop.load(std::memory_order_acquire)) {
        bool took = take_chunk(c, me, me, ch);
        for (std::uint32_t i = 1; !took && d.kind == schedule::dynamic && i < d.slot_count; ++i) {
            const std::uint32_t other = (me + i) % d.slot_count;
            took = c.slots[other].participant && take_chunk(c, me, other, ch);
        }
        if (!took || !run_chunk(c, c.slots[me], ch)) return;
    }
}

// Waits until the parent publishes a call after `seen`; spins a little first, since calls
// often come back to back. While idle, it drops arrays removed meanwhile every 100 ms, so that
// their memory is freed without waiting for the next call.
std::uint32_t wait_for_call(control_block& c, std::uint32_t seen) {
    for (int spin = 0; spin < 200; ++spin) {
        const std::uint32_t g = c.generation.load(std::memory_order_acquire);
        if (g != seen) return g;
        std::this_thread::yield();
    }
    for (;;) {
        futex_wait(c.generation, seen, 100'000'000);
        const std::uint32_t g = c.generation.load(std::memory_order_acquire);
        if (g != seen) return g;
        release_removed_segments();
    }
}

}  // namespace

void worker_main(control_block& c, std::size_t index, pid_t zygote) {
    if (!die_with_parent(zygote)) ::_exit(1);  // the zygote died before the request took effect
    unblock_all_signals();
    set_signal_default(SIGCHLD);
    this_worker_control = &c;

    worker_slot& slot = c.slots[index];
    std::uint32_t seen = c.generation.load(std::memory_order_acquire);
    slot.done_generation.store(seen, std::memory_order_release);
    slot.pid.store(current_pid(), std::memory_order_release);
    slot.state.store(slot_state::ready, std::memory_order_release);
    notify_events(c);

    auto last_release = std::chrono::steady_clock::now();
    std::uint64_t removals_seen = c.removals.load(std::memory_order_acquire);
    for (;;) {
        seen = wait_for_call(c, seen);
        if (c.shutdown.load(std::memory_order_acquire)) ::_exit(0);
        if (slot.participant) {
            // Drop the mappings of arrays removed meanwhile: at once when the parent removed
            // one, otherwise every 100 ms (calls back to back never leave wait_for_call idle).
            const auto now = std::chrono::steady_clock::now();
            const std::uint64_t removals = c.removals.load(std::memory_order_acquire);
            if (removals != removals_seen || now - last_release > std::chrono::milliseconds(100)) {
                release_removed_segments();
                last_release = now;
                removals_seen = removals;
            }
            run_call(c, static_cast<std::uint32_t>(index));
        }
        slot.done_generation.store(seen, std::memory_order_release);
        notify_events(c);
    }
}

}  // namespace detail

void cancel_call() {
    detail::control_block* c = detail::this_worker_control;
    if (!c) throw error("shmpool::cancel_call() was called outside a pool worker's task");
    c->cancelled.store(1, std::memory_order_release);
    c->stop.store(1, std::memory_order_release);
}

bool call_cancelled() noexcept {
    const detail::control_block* c = detail::this_worker_control;
    return c && c->cancelled.load(std::memory_order_acquire);
}

}  // namespace shmpool
