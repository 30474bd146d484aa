// The parent's state of a pool and the steps of a call, shared by process_pool.cpp (the public
// members) and pool_parent.cpp (publishing calls, waiting for them, reading the ledger).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "os.hpp"
#include "pool_control.hpp"
#include "pool_ledger.hpp"
#include "progress_line.hpp"
#include "submission.hpp"

namespace shmpool::detail {

struct pool_state {
    mapped_region control_memory;  // the control block, shared with the zygote and the workers
    control_block* control = nullptr;
    std::size_t workers = 0;
    pid_t zygote = 0;
    file_descriptor requests;  // write end of the zygote's request pipe
    bool broken = false;
    std::mutex call_mutex;
    // submit(): which call runs (for a handle's cancel()), and the queue of submitted calls,
    // made by the first submit().
    std::shared_ptr<call_canceller> canceller = std::make_shared<call_canceller>();
    std::size_t max_queued = 0;
    when_queue_full queue_full = when_queue_full::block;
    std::once_flag submissions_started;
    std::unique_ptr<submission_queue> submissions;
};

/// Asks the zygote for a (new) worker in slot `index`.
void request_worker(pool_state& s, std::size_t index);
/// Whether the zygote still runs; reaps it (and marks the pool broken) if not.
bool zygote_alive(pool_state& s);
[[noreturn]] void throw_broken();
/// Replaces dead workers and waits until every worker is ready to take a call (30 s at most).
void ensure_workers_ready(pool_state& s);
/// Stops the workers and the zygote and reaps them; bounded in time, never throws.
void stop_pool(pool_state& s) noexcept;

/// Runs a call whose task is published in the control block over [first, last): round 0 runs
/// the range, each retry (opts.retries) what dead workers did not complete. Throws worker_error,
/// worker_died_error (exactly what did not complete), error (the pool broke).
call_result run_call(pool_state& s, std::uint64_t first, std::uint64_t last,
                     const call_options& opts);

}  // namespace shmpool::detail
