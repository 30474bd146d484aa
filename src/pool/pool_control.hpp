// The pool's shared control block: what the parent, the helper ("zygote") and the workers share.
// It lives in an anonymous shared mapping made before the first fork, so every process of the
// pool sees it at the same address.
//
// Processes:  parent --fork--> zygote --fork--> worker 0..n-1
// The zygote is forked while the parent is single-threaded and stays so; it forks (and
// re-forks) the workers on request and reaps them, recording how they died.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "futex.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::detail {

inline constexpr std::size_t max_workers = 256;

enum class slot_state : std::uint32_t { empty, starting, ready, dead };

// --- The ledger -------------------------------------------------------------------------------
// Each participant of a call holds a share of the range, handed out in chunks of `chunk`
// indices: chunk k of share s is [share_begin + k * chunk, ...). A worker takes chunk k by a CAS
// of the share's `taken` word from (k, previous taker) to (k + 1, itself). Before the CAS it
// records in its own `claim` word that it is attempting (s, k), and sets `progress` to the
// chunk's first index; it then advances `progress` past each index it finishes. Whoever next
// takes from share s first confirms the previous taker's claim (attempting -> won), so that a
// claim whose CAS succeeded is never lost: when a worker dies, its claim is won if it says so,
// or if `taken` of its share still names it with k + 1. Its chunk then completed up to
// `progress`; nothing else it touched can be lost. See resolve_ledger in process_pool.cpp.

enum class claim_state : std::uint64_t { none = 0, attempting = 1, won = 2 };

inline constexpr unsigned chunk_bits = 54;  // chunks per share < 2^54: a call is cut in pieces
inline constexpr std::uint64_t max_phase_indices = std::uint64_t{1} << chunk_bits;

inline constexpr std::uint64_t pack_claim(claim_state st, std::uint64_t share, std::uint64_t k) {
    return static_cast<std::uint64_t>(st) << 62 | share << chunk_bits | k;
}
inline constexpr claim_state claim_state_of(std::uint64_t c) {
    return static_cast<claim_state>(c >> 62);
}
inline constexpr std::uint64_t claim_share(std::uint64_t c) { return (c >> chunk_bits) & 0xff; }
inline constexpr std::uint64_t claim_chunk(std::uint64_t c) { return c & (max_phase_indices - 1); }

inline constexpr std::uint64_t pack_taken(std::uint64_t chunks, std::uint64_t taker) {
    return chunks << 8 | taker;
}
inline constexpr std::uint64_t taken_chunks(std::uint64_t t) { return t >> 8; }
inline constexpr std::uint64_t taken_by(std::uint64_t t) { return t & 0xff; }

/// One worker's place in the pool, in four cache lines: what the parent polls while it waits;
/// what the worker writes per index; its claim (read by workers that take from the same share);
/// its share (taken by other workers).
struct alignas(64) worker_slot {
    std::atomic<std::int32_t> pid{0};
    std::atomic<slot_state> state{slot_state::empty};
    std::atomic<std::uint32_t> done_generation{0};  // last call this worker finished
    std::atomic<std::int32_t> wait_status{0};       // from waitpid, once dead
    std::uint32_t participant = 0;                  // takes part in the current call
    std::uint32_t rank = 0;                         // its place among the participants

    alignas(64) std::atomic<std::uint64_t> progress{0};  // first index of its chunk not finished
    std::atomic<std::uint64_t> done{0};  // indices it finished in this call (the progress line)

    alignas(64) std::atomic<std::uint64_t> claim{0};  // pack_claim: the chunk it took last

    // Its share of the current call, [share_begin, share_end), and pack_taken of the chunks
    // taken from it. Dynamic scheduling: a worker takes from its own share first (so the same
    // rows go to the same worker call after call: warm page tables), then from the others'.
    alignas(64) std::atomic<std::uint64_t> taken{0};
    std::uint64_t share_begin = 0;
    std::uint64_t share_end = 0;
    std::uint64_t share_chunks = 0;  // chunks in the share: ceil(size / chunk)
};

/// The share of participant k of p in [first, last): n/p indices, the first n%p one more.
inline std::uint64_t share_start(std::uint64_t first, std::uint64_t last, std::uint64_t p,
                                 std::uint64_t k) {
    const std::uint64_t n = last - first;
    return first + n / p * k + (k < n % p ? k : n % p);
}

/// Points where a worker kills itself for fault-injection tests (pool_internals::inject_fault).
enum class fault_point : std::uint32_t {
    none,
    after_attempt,  // claim recorded as attempting, before the CAS that takes the chunk
    after_take,     // the CAS took the chunk, before the claim is recorded as won
    before_run,     // the claim is won, before the chunk's first index
    after_confirm,  // another worker's claim confirmed, before this one's own attempt
};

/// The first exception thrown by a task during a call.
struct call_failure {
    std::atomic<std::uint32_t> claimed{0};
    std::uint64_t index = 0;
    std::int32_t pid = 0;
    char type[256] = {};
    char what[2048] = {};
};

/// What the parent publishes before it bumps `generation`.
struct call_description {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t chunk = 1;
    schedule kind = schedule::dynamic;
    std::uint32_t participants = 0;
    std::uint32_t slot_count = 0;  // slots in use: the pool's size
    range_runner runner = nullptr;
    std::size_t task_size = 0;
    bool touches_rows = false;  // call_options::touch_rows(): prefault each chunk's rows
    array_ref rows;
};

struct control_block {
    alignas(64) std::atomic<std::uint32_t> generation{0};  // futex: a new call (or shutdown)
    std::atomic<std::uint32_t> shutdown{0};
    // Bumped by the parent when it removed an array: workers then drop removed arrays' mappings
    // at the start of the next call instead of within 100 ms.
    std::atomic<std::uint64_t> removals{0};
    // Fault injection (tests only): the worker that reaches `fault_at` when `fault_countdown`
    // drops to 0 kills itself with SIGKILL.
    std::atomic<fault_point> fault_at{fault_point::none};
    std::atomic<std::int64_t> fault_countdown{0};
    alignas(64) std::atomic<std::uint32_t> events{0};  // futex: a worker finished, died, or started
    // Read after every index: on a line of its own, which only a cancel or a failure writes.
    alignas(64) std::atomic<std::uint32_t> stop{0};  // take no more chunks
    std::atomic<std::uint32_t> cancelled{0};
    std::atomic<std::int32_t> zygote_pid{0};
    call_description call;
    call_failure failure;
    worker_slot slots[max_workers];
    alignas(64) unsigned char task[max_task_bytes];
};

/// What tests reach inside a pool for (a friend of process_pool).
struct pool_internals {
    /// From now on, the worker that reaches `at` for the `countdown`-th time (counted over all
    /// workers) kills itself with SIGKILL; fault_point::none turns it off.
    static void inject_fault(process_pool& pool, fault_point at, std::int64_t countdown);
};

/// Wakes whoever waits for pool events (the parent).
inline void notify_events(control_block& c) noexcept {
    c.events.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(c.events);
}

/// The zygote's main loop: forks a worker for every slot index read from `requests`, reaps the
/// workers and records their death, and when `requests` reaches end of file (the parent closed
/// it or died) kills and reaps every worker and exits. Never returns.
[[noreturn]] void zygote_main(control_block& c, int requests, pid_t parent);

/// A worker's main loop, in the process the zygote just forked for slot `index`: waits for
/// calls, runs its share of each, exits at shutdown or when the zygote dies. Never returns.
[[noreturn]] void worker_main(control_block& c, std::size_t index, pid_t zygote);

}  // namespace shmpool::detail
