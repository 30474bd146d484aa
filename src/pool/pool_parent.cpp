// The parent's side of a call: choosing participants and their shares, publishing the call,
// waiting until each worker finished or died, reading the ledger, retrying what dead workers
// did not complete, and reporting the outcome.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "exit_cleanup.hpp"
#include "pool_state.hpp"
#include "shmpool/process_pool.hpp"

namespace shmpool::detail {
namespace {

// The chunk size of a call over n indices with p participants.
std::uint64_t chunk_for(std::uint64_t n, std::uint32_t p, const call_options& opts) {
    const std::uint64_t automatic = std::max<std::uint64_t>(1, n / (std::uint64_t{p} * 8));
    return std::min<std::uint64_t>(n, opts.chunk ? opts.chunk : automatic);
}

// Chooses the participants of a call over [first, last) (the workers ready now), its chunk
// size, and each participant's share; resets the ledger. Returns the number of participants.
std::uint32_t assign_shares(pool_state& s, std::uint64_t first, std::uint64_t last,
                            const call_options& opts) {
    control_block& c = *s.control;
    std::uint32_t participants = 0;
    for (std::size_t i = 0; i < s.workers; ++i) {
        worker_slot& w = c.slots[i];
        w.participant = w.state.load(std::memory_order_acquire) == slot_state::ready;
        w.rank = participants;
        participants += w.participant;
    }
    if (participants == 0) return 0;
    const std::uint64_t chunk = chunk_for(last - first, participants, opts);
    c.call.chunk = chunk;
    c.call.participants = participants;
    for (std::size_t i = 0; i < s.workers; ++i) {
        worker_slot& w = c.slots[i];
        w.claim.store(0, std::memory_order_relaxed);
        w.progress.store(0, std::memory_order_relaxed);
        w.done.store(0, std::memory_order_relaxed);
        w.taken.store(0, std::memory_order_relaxed);
        w.share_begin = w.share_end = first;
        w.share_chunks = 0;
        if (!w.participant) continue;
        w.share_begin = share_start(first, last, participants, w.rank);
        w.share_end = share_start(first, last, participants, w.rank + 1);
        w.share_chunks = (w.share_end - w.share_begin + chunk - 1) / chunk;
    }
    return participants;
}

// The indices the participants finished so far in the current call (for the progress line).
std::uint64_t done_so_far(const pool_state& s) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < s.workers; ++i)
        n += s.control->slots[i].done.load(std::memory_order_relaxed);
    return n;
}

// Publishes a call over [first, last) (at most max_phase_indices) and waits until each
// participant finished it or died; then reads the ledger. `done_before` feeds the progress line.
phase_outcome run_phase(pool_state& s, std::uint64_t first, std::uint64_t last,
                        const call_options& opts, progress_line& line, std::uint64_t done_before) {
    control_block& c = *s.control;
    std::uint32_t participants = assign_shares(s, first, last, opts);
    for (int attempt = 0; participants == 0 && attempt < 3; ++attempt) {
        ensure_workers_ready(s);  // every worker died since the last check: wait for new ones
        participants = assign_shares(s, first, last, opts);
    }
    if (participants == 0)
        throw error(
            "shmpool::process_pool: no worker stays alive long enough to take a call; "
            "something kills them as soon as they start");
    c.call.first = first;
    c.call.last = last;
    c.call.kind = opts.kind;
    c.call.slot_count = static_cast<std::uint32_t>(s.workers);
    c.removals.store(segments_removed_here(), std::memory_order_relaxed);
    const std::uint32_t generation = c.generation.load(std::memory_order_relaxed) + 1;
    c.generation.store(generation, std::memory_order_release);
    futex_wake_all(c.generation);

    phase_outcome out;
    std::vector<bool> settled(s.workers, false), dead(s.workers, false);
    std::size_t pending = participants;
    int spins = 0;
    while (pending > 0) {
        const std::uint32_t seen = c.events.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < s.workers; ++i) {
            worker_slot& w = c.slots[i];
            if (!w.participant || settled[i]) continue;
            if (w.done_generation.load(std::memory_order_acquire) == generation) {
                settled[i] = true;
                --pending;
            } else if (w.state.load(std::memory_order_acquire) == slot_state::dead) {
                settled[i] = dead[i] = true;  // reaped by the zygote: it writes nothing more
                --pending;
                out.deaths.push_back(death_of(w.pid.load(), w.wait_status.load()));
            }
        }
        if (pending == 0) break;
        line.update(done_before + done_so_far(s));
        if (++spins < 100) {
            std::this_thread::yield();
            continue;
        }
        futex_wait(c.events, seen, 50'000'000);
        if (!zygote_alive(s)) throw_broken();  // the workers die with it
    }
    resolve_ledger(c, s.workers, dead, out);
    return out;
}

[[noreturn]] void throw_task_failure(const control_block& c) {
    const call_failure& f = c.failure;
    const std::string what = "task for index " + std::to_string(f.index) + " threw " + f.type +
                             " in worker " + std::to_string(f.pid) + ": " + f.what;
    throw worker_error(what, f.index, f.pid, f.type, f.what);
}

bool call_stopped(const control_block& c) { return c.stop.load(std::memory_order_acquire) != 0; }

// Runs every range of `todo` (each in pieces of at most max_phase_indices): one round of a
// call. Adds to `report` what the workers did not complete; false if the call was stopped.
void run_round(pool_state& s, const std::vector<index_range>& todo, const call_options& opts,
               progress_line& line, call_result& result, death_report& report) {
    for (const index_range& r : todo) {
        for (std::uint64_t b = r.begin; b < r.end;) {
            if (call_stopped(*s.control)) {  // cancelled or failed: the rest does not run
                report.not_completed.push_back({b, r.end});
                break;
            }
            const std::uint64_t e = r.end - b > max_phase_indices ? b + max_phase_indices : r.end;
            phase_outcome o = run_phase(s, b, e, opts, line, result.completed);
            result.completed += o.completed;
            report.not_completed.insert(report.not_completed.end(), o.not_completed.begin(),
                                        o.not_completed.end());
            report.interrupted.insert(report.interrupted.end(), o.interrupted.begin(),
                                      o.interrupted.end());
            report.deaths.insert(report.deaths.end(), o.deaths.begin(), o.deaths.end());
            b = e;
        }
    }
}

}  // namespace

call_result run_call(pool_state& s, std::uint64_t first, std::uint64_t last,
                     const call_options& opts) {
    control_block& c = *s.control;
    // Round 0 runs the range; each retry runs what dead workers did not complete.
    progress_line line(opts.show_progress, last - first);
    call_result result;
    death_report report{first, last, 0, {}, {}, {}};
    std::vector<index_range> todo{{first, last}};
    for (int round = 0;; ++round) {
        report.not_completed.clear();
        run_round(s, todo, opts, line, result, report);
        report.not_completed = merge_ranges(std::move(report.not_completed));
        if (report.not_completed.empty() || call_stopped(c) || round >= opts.retries) break;
        ensure_workers_ready(s);
        todo = report.not_completed;
        report.retries = round + 1;
    }
    std::sort(report.interrupted.begin(), report.interrupted.end());
    result.cancelled = c.cancelled.load(std::memory_order_acquire) != 0;
    result.workers_died = report.deaths.size();
    if (!zygote_alive(s)) throw_broken();
    ensure_workers_ready(s);  // replace the dead now: the pool is whole again when we throw
    if (c.failure.claimed.load(std::memory_order_acquire) == 2) throw_task_failure(c);
    // A cancelled call returns normally, unless a worker died in the middle of a task that
    // then did not run again: its caller must hear of that.
    const bool cut_short =
        std::any_of(report.interrupted.begin(), report.interrupted.end(), [&](std::size_t i) {
            return std::any_of(report.not_completed.begin(), report.not_completed.end(),
                               [i](const index_range& r) { return r.contains(i); });
        });
    if (!report.not_completed.empty() && (!result.cancelled || cut_short)) {
        if (report.deaths.empty())  // the ledger says so, yet no worker died: never hide it
            throw error("shmpool::process_pool: internal error: " +
                        std::to_string(report.not_completed.size()) +
                        " ranges of the call did not run although no worker died");
        throw_worker_died(std::move(report));
    }
    result.rerun = std::move(report.interrupted);
    return result;
}

void request_worker(pool_state& s, std::size_t index) {
    control_block& c = *s.control;
    c.slots[index].pid.store(0, std::memory_order_relaxed);
    c.slots[index].state.store(slot_state::starting, std::memory_order_release);
    const std::uint32_t i = static_cast<std::uint32_t>(index);
    if (write_all(s.requests.get(), &i, sizeof i) != 0)
        c.slots[index].state.store(slot_state::dead, std::memory_order_release);
}

bool zygote_alive(pool_state& s) {
    if (s.broken) return false;
    int status = 0;
    if (try_reap(s.zygote, status) == s.zygote) {
        s.broken = true;
        unregister_pool_zygote(s.zygote);
        return false;
    }
    return true;
}

[[noreturn]] void throw_broken() {
    throw error(
        "shmpool::process_pool: the pool's helper process died, so no worker can be "
        "started; destroy this pool and construct a new one");
}

// Replaces dead workers and waits until every worker is ready to take a call.
void ensure_workers_ready(pool_state& s) {
    control_block& c = *s.control;
    for (std::size_t i = 0; i < s.workers; ++i)
        if (c.slots[i].state.load(std::memory_order_acquire) == slot_state::dead)
            request_worker(s, i);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        const std::uint32_t seen = c.events.load(std::memory_order_acquire);
        std::size_t ready = 0;
        for (std::size_t i = 0; i < s.workers; ++i) {
            const slot_state st = c.slots[i].state.load(std::memory_order_acquire);
            if (st == slot_state::ready)
                ++ready;
            else if (st == slot_state::dead)
                request_worker(s, i);
        }
        if (ready == s.workers) return;
        if (!zygote_alive(s)) throw_broken();
        if (std::chrono::steady_clock::now() > deadline)
            throw error("shmpool::process_pool: workers did not start within 30 s");
        futex_wait(c.events, seen, 20'000'000);
    }
}

}  // namespace shmpool::detail
