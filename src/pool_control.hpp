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

/// One worker's place in the pool. Written by the worker (pid, done_generation, in-flight
/// range), by the zygote (state on death, wait_status) and by the parent (participant, rank).
struct alignas(64) worker_slot {
    std::atomic<std::int32_t> pid{0};
    std::atomic<slot_state> state{slot_state::empty};
    std::atomic<std::uint32_t> done_generation{0};  // last call this worker finished
    std::atomic<std::int32_t> wait_status{0};       // from waitpid, once dead
    std::atomic<std::uint64_t> inflight_begin{0};   // indices being run: [begin, end)
    std::atomic<std::uint64_t> inflight_end{0};
    std::uint32_t participant = 0;                  // takes part in the current call
    std::uint32_t rank = 0;                         // its place among the participants
    // Dynamic scheduling: this worker's share of the range, [next, share_end). It takes chunks
    // from its own share first, so the same rows go to the same worker call after call (warm
    // page tables), then steals from the others' shares.
    alignas(64) std::atomic<std::uint64_t> next{0};
    std::uint64_t share_end = 0;
};

/// The share of participant k of p in [first, last): n/p indices, the first n%p one more.
inline std::uint64_t share_start(std::uint64_t first, std::uint64_t last, std::uint64_t p,
                                 std::uint64_t k) {
    const std::uint64_t n = last - first;
    return first + n / p * k + (k < n % p ? k : n % p);
}

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
    alignas(64) std::atomic<std::uint32_t> events{0};      // futex: a worker finished, died, or started
    alignas(64) std::atomic<std::uint64_t> completed{0};   // indices whose task ran to the end
    // Read after every index: on a line of its own, which only a cancel or a failure writes.
    alignas(64) std::atomic<std::uint32_t> stop{0};        // take no more chunks
    std::atomic<std::uint32_t> cancelled{0};
    std::atomic<std::int32_t> zygote_pid{0};
    call_description call;
    call_failure failure;
    worker_slot slots[max_workers];
    alignas(64) unsigned char task[max_task_bytes];
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

}  // namespace shmpool::detail
