// The parent's reading of the pool's ledger (see pool_control.hpp): after a call's workers have
// all finished or died, which indices ran to the end, which did not, and which a dying worker
// was in the middle of; and the worker_died_error that reports them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pool_control.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

/// What one published call over [first, last) did, read from the ledger.
struct phase_outcome {
    std::uint64_t completed = 0;             // indices whose task ran to the end
    std::vector<index_range> not_completed;  // the others, unsorted
    std::vector<std::size_t> interrupted;    // indices a worker was running when it died
    std::vector<worker_death> deaths;        // participants that died during the call
};

/// Reads the ledger of the call just finished. Every participant must have finished the call or
/// be dead (reaped), so that nothing writes to the ledger any more. `dead[i]` tells whether slot
/// i died during the call.
void resolve_ledger(const control_block& c, std::size_t slots, const std::vector<bool>& dead,
                    phase_outcome& out);

/// Sorts ranges and merges those that touch or overlap; drops empty ones.
std::vector<index_range> merge_ranges(std::vector<index_range> ranges);

/// How a worker ended, from its waitpid status.
worker_death death_of(int pid, int wait_status);

/// "killed by SIGKILL (Killed)" or "exited with code 3".
std::string death_text(const worker_death& d);

/// What a call that lost workers reports. `first`/`last`: the call's range; `retries`: how many
/// rounds of re-running were tried.
struct death_report {
    std::size_t first = 0, last = 0;
    int retries = 0;
    std::vector<worker_death> deaths;
    std::vector<index_range> not_completed;  // merged
    std::vector<std::size_t> interrupted;    // sorted
};

[[noreturn]] void throw_worker_died(death_report report);

}  // namespace shmpool::detail
