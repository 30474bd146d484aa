// bench/stream, figure 4: early stop. An imap range over tasks of ~1 ms of busy work (50 x the
// calibrated ~20 us), 1,000 indices, of which the consumer takes 20 results and then destroys
// the range mid-stream: the time from the start of its destructor to its return (it cancels the
// windows in flight, the queued ones never start, and waits for the workers, which finish the
// index they are on: so about one task at most). Several ranges a round (--quick: fewer).
// Then an empty call checks that the pool is free again. One task's time is reported beside it
// for scale (measured here, in this process). No target.
#include <optional>
#include <stdexcept>

#include "stream.hpp"

namespace stream_bench {
namespace {

constexpr std::uint64_t task_items = 50;  // a task: this many calibrated items of work

// One range destroyed mid-stream; returns its destructor's time in ms.
double destroy_mid_stream(const context& ctx) {
    const std::uint64_t it = ctx.item_iters * task_items;
    const auto slow = [it](std::size_t i) { return spin(it, i); };
    using range_type = decltype(ctx.pool.imap(0, 1, slow, 0, quiet()));
    std::optional<range_type> range;
    range.emplace(ctx.pool.imap(0, ctx.n.early_items, slow, 0, quiet()));
    std::size_t taken = 0;
    for (auto i = range->begin(); i != range->end() && taken < ctx.n.early_consumed; ++i) {
        keep(*i);
        ++taken;
    }
    if (taken != ctx.n.early_consumed) throw std::runtime_error("figure 4: the range ended early");
    const auto t = clock_type::now();
    range.reset();
    const double ms = seconds_since(t) * 1e3;
    ctx.pool.for_each(0, 2, [](std::size_t) {}, quiet());  // the pool takes calls again
    return ms;
}

}  // namespace

void early_step(const context& ctx, early_series& s) {
    const std::uint64_t it = ctx.item_iters * task_items;
    const auto t = clock_type::now();
    keep(spin(it, 1));
    s.task.values.push_back(seconds_since(t) * 1e3);
    for (int k = 0; k < ctx.n.early_trials; ++k)
        s.destroy.values.push_back(destroy_mid_stream(ctx));
}

void report_early(early_series& s) {
    add_figure(early_section, s.task);
    add_figure(early_section, s.destroy);
}

}  // namespace stream_bench
