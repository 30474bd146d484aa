// bench/first_day, figure 2: lock+unlock pairs per second of a shmpool::shared_object<robust_mutex>
// opened by name in unrelated processes (copies of this program started with posix_spawn, each
// opening the object by name: children.cpp), against the same robust_mutex placed in place
// (placement-new in a shared_array<uint8_t>) and used by forked children through the parent's
// mapping, as bench/locks does. With 1 process (uncontended) and with 4 contending; each run
// starts its processes together at the gate and counts for the same time. A fresh mutex for
// every run: a new object by name, the in-place one constructed again.
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <new>
#include <shmpool/shared_object.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "first_day.hpp"

namespace first_day {
namespace {

using mutex_object = shmpool::shared_object<shmpool::robust_mutex>;

inline series rate_series_named(const std::string& name) { return {name, "pairs/s", true, {}}; }

// The series of figure 2, one value per round.
struct lock_series {
    series place_1 = rate_series_named("in place, 1 forked process (uncontended)");
    series name_1 = rate_series_named("by name, 1 spawned process (uncontended)");
    series place_4 = rate_series_named("in place, 4 forked processes contending");
    series name_4 = rate_series_named("by name, 4 spawned processes contending");
};

// Pairs per second of `n` forked children on the mutex constructed afresh at `where`.
double in_place_rate(const context& ctx, void* where, int n) {
    auto* m = new (where) shmpool::robust_mutex;
    const double rate = pairs_per_second(ctx.ctl, n, ctx.lock_seconds, [&](int i) {
        return fork_child(
            [&, i] { contend(ctx.ctl, i, [m]() -> shmpool::robust_mutex& { return *m; }); });
    });
    std::destroy_at(m);
    return rate;
}

// Pairs per second of `n` spawned copies of this program on a new object they open by name.
double by_name_rate(const context& ctx, int n) {
    const std::string name = ctx.guard.make_name("mutex");
    mutex_object::create(name);
    const std::string parent = std::to_string(::getpid());
    const double rate = pairs_per_second(ctx.ctl, n, ctx.lock_seconds, [&](int i) {
        return spawn_self(ctx.self,
                          {contend_command, ctx.control_name, name, std::to_string(i), parent});
    });
    ctx.guard.remove(name);
    return rate;
}

// Round r of figure 2: the four runs, in an order rotated by r.
void lock_round(const context& ctx, int r, void* where, lock_series& s) {
    const std::vector<std::function<void()>> steps = {
        [&] { s.place_1.values.push_back(in_place_rate(ctx, where, 1)); },
        [&] { s.name_1.values.push_back(by_name_rate(ctx, 1)); },
        [&] { s.place_4.values.push_back(in_place_rate(ctx, where, max_procs)); },
        [&] { s.name_4.values.push_back(by_name_rate(ctx, max_procs)); },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
}

// Adds the figures: each by-name rate against the in-place one, target within 10% (ratio >=
// 0.9: faster is fine).
void add_lock_figures(const lock_series& s) {
    for (const auto& [place, name] : {std::pair{&s.place_1, &s.name_1}, {&s.place_4, &s.name_4}}) {
        add_figure(lock_section, *place);
        figure& f = add_figure(lock_section, *name, place);
        set_target(f, ">= 0.9x (within 10%)", f.ratio, 0.9, true);
    }
}

}  // namespace

void run_lock_rates(const context& ctx) {
    const std::string area_name = ctx.guard.make_name("area");
    const bytes area = bytes::create(area_name, {4096});  // data page-aligned, as an object's
    lock_series s;
    for (int r = 0; r < ctx.rounds; ++r) lock_round(ctx, r, area.data(), s);
    ctx.guard.remove(area_name);
    add_lock_figures(s);
}

}  // namespace first_day
