// Reading the pool's ledger once a call is over, and reporting what dead workers left undone.
#include "pool_ledger.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <string>

#include "os.hpp"

namespace shmpool::detail {
namespace {

// The end of the chunks taken from `share`: every index before it was handed to some worker.
std::uint64_t taken_end(const worker_slot& share, std::uint64_t chunk) {
    const std::uint64_t k = taken_chunks(share.taken.load(std::memory_order_acquire));
    const std::uint64_t size = share.share_end - share.share_begin;
    return k >= (size + chunk - 1) / chunk ? share.share_end : share.share_begin + k * chunk;
}

// Whether the last claim of worker `w` took its chunk: it says so, or it was attempting and the
// share's `taken` still names it as the one that took that chunk (whoever took a later chunk
// would have confirmed it first).
bool claim_won(const control_block& c, std::size_t w, std::uint64_t claim) {
    const std::uint64_t share = claim_share(claim);
    const std::uint64_t k = claim_chunk(claim);
    switch (claim_state_of(claim)) {
        case claim_state::won:
            return true;
        case claim_state::attempting:
            return c.slots[share].taken.load(std::memory_order_acquire) == pack_taken(k + 1, w);
        default:
            return false;
    }
}

std::string range_text(const index_range& r) {
    std::string s = "[";  // not "[" + ...: GCC 12's -Wrestrict misfires
    s.append(std::to_string(r.begin)).append(", ").append(std::to_string(r.end)).append(")");
    return s;
}

template <class T, class Show>
std::string list_text(const std::vector<T>& items, Show show, std::size_t limit = 6) {
    std::string s;
    for (std::size_t i = 0; i < items.size() && i < limit; ++i)
        s += (i ? ", " : "") + show(items[i]);
    if (items.size() > limit) s += " and " + std::to_string(items.size() - limit) + " more";
    return s;
}

}  // namespace

void resolve_ledger(const control_block& c, std::size_t slots, const std::vector<bool>& dead,
                    phase_outcome& out) {
    const std::uint64_t chunk = c.call.chunk;
    // Every index of a share up to the chunks taken from it was handed out; the rest, never.
    for (std::size_t i = 0; i < slots; ++i) {
        const worker_slot& share = c.slots[i];
        if (!share.participant) continue;
        const std::uint64_t end = taken_end(share, chunk);
        out.completed += end - share.share_begin;
        if (end < share.share_end) out.not_completed.push_back({end, share.share_end});
    }
    // Each worker's last chunk completed up to its progress; every earlier chunk of it did.
    for (std::size_t w = 0; w < slots; ++w) {
        const worker_slot& slot = c.slots[w];
        if (!slot.participant) continue;
        const std::uint64_t claim = slot.claim.load(std::memory_order_acquire);
        if (!claim_won(c, w, claim)) continue;
        const worker_slot& share = c.slots[claim_share(claim)];
        const std::uint64_t begin = share.share_begin + claim_chunk(claim) * chunk;
        const std::uint64_t end = std::min(begin + chunk, share.share_end);
        const std::uint64_t at =
            std::clamp<std::uint64_t>(slot.progress.load(std::memory_order_acquire), begin, end);
        if (at == end) continue;
        out.not_completed.push_back({at, end});
        out.completed -= end - at;
        if (dead[w]) out.interrupted.push_back(at);
    }
}

std::vector<index_range> merge_ranges(std::vector<index_range> ranges) {
    std::erase_if(ranges, [](const index_range& r) { return r.size() == 0; });
    std::sort(ranges.begin(), ranges.end(),
              [](const index_range& a, const index_range& b) { return a.begin < b.begin; });
    std::vector<index_range> merged;
    for (const index_range& r : ranges) {
        if (!merged.empty() && r.begin <= merged.back().end)
            merged.back().end = std::max(merged.back().end, r.end);
        else
            merged.push_back(r);
    }
    return merged;
}

worker_death death_of(int pid, int wait_status) {
    worker_death d;
    d.pid = pid;
    if (WIFSIGNALED(wait_status)) d.signal = WTERMSIG(wait_status);
    if (WIFEXITED(wait_status)) d.exit_code = WEXITSTATUS(wait_status);
    return d;
}

std::string death_text(const worker_death& d) {
    if (d.signal != 0) return "killed by " + signal_text(d.signal);
    return "exited with code " + std::to_string(d.exit_code);
}

void throw_worker_died(death_report r) {
    std::string what = "shmpool::process_pool: ";
    if (r.deaths.size() == 1) {
        what += "worker " + std::to_string(r.deaths[0].pid) + " was " + death_text(r.deaths[0]);
    } else {
        what += std::to_string(r.deaths.size()) + " workers died (" +
                list_text(r.deaths,
                          [](const worker_death& d) {
                              return std::to_string(d.pid) + " " + death_text(d);
                          }) +
                ")";
    }
    what += " during the call over " + range_text({r.first, r.last});
    if (r.retries > 0) what += " (" + std::to_string(r.retries) + " retries tried)";
    std::size_t count = 0;
    for (const index_range& x : r.not_completed) count += x.size();
    what += ": " + std::to_string(count) + (count == 1 ? " index" : " indices") +
            " did not complete: " + list_text(r.not_completed, range_text) + ". ";
    std::vector<std::size_t> cut, rerun;
    for (std::size_t i : r.interrupted) {
        const bool left = std::any_of(r.not_completed.begin(), r.not_completed.end(),
                                      [i](const index_range& x) { return x.contains(i); });
        (left ? cut : rerun).push_back(i);
    }
    const auto number = [](std::size_t i) { return std::to_string(i); };
    if (!cut.empty())
        what += "Of these, " + list_text(cut, number) + (cut.size() == 1 ? " was" : " were") +
                " running when a worker died and may have run in part; the others never "
                "started. ";
    if (!rerun.empty())
        what += list_text(rerun, number) + (rerun.size() == 1 ? " was" : " were") +
                " cut short by a dying worker and ran again. ";
    what +=
        "Every other index ran to the end. The pool replaced the dead workers; "
        "call_options::retries runs such indices again";
    throw worker_died_error(what, std::move(r.deaths), std::move(r.not_completed),
                            std::move(r.interrupted));
}

}  // namespace shmpool::detail
