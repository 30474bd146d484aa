// bench/first_day, figure 3: microseconds per open of an existing named mutex:
// shmpool::shared_object<robust_mutex>::open(name) and ::open_or_create(name), against
// Boost.Interprocess's named_mutex(open_or_create, name) (on Linux a POSIX named semaphore:
// sem_open), with Boost's named_mutex(open_only, name) beside it for reference. Two cases:
//
//   first open  a copy of this program started with posix_spawn opens, once each, objects it
//               never opened before (each is mapped there), keeping them open;
//   again       this process, which holds the object (shmpool: mapped since create(); Boost:
//               the named_mutex that created it), opens it again and drops the handle, over
//               and over: no mapping is made on either side.
//
// Information: no target. The ratio is Boost's time over shmpool's (> 1: shmpool opens faster).
// Built without Boost, only the shmpool figures are measured, with no baseline.
#include <unistd.h>

#include <functional>
#include <shmpool/shared_object.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "first_day.hpp"

namespace first_day {
namespace {

using mutex_object = shmpool::shared_object<shmpool::robust_mutex>;

series us_series(const std::string& name) { return {name, "us/open", false, {}}; }

// The series of one case (first open, or again), by open_way, one value per round.
struct case_series {
    series by_way[open_ways];
    explicit case_series(const std::string& when)
        : by_way{us_series("shared_object::open, " + when),
                 us_series("shared_object::open_or_create, " + when),
                 us_series("Boost open_or_create, " + when),
                 us_series("  Boost open_only (reference), " + when)} {}
};

// The series of figure 3.
struct open_series {
    case_series first{"first open in a new process"};
    case_series again{"again (open here)"};
};

// First opens: a new process opens, once each, objects it never opened, each way in an order
// rotated by `rotation`, and writes its times to the control block.
void first_opens(const context& ctx, const named_mutexes& names, int rotation, open_series& s) {
    renew(ctx.ctl);
    const pid_t pid = spawn_self(
        ctx.self, {open_command, ctx.control_name, names.base(), std::to_string(ctx.open_count),
                   std::to_string(rotation), std::to_string(::getpid())});
    reap_all({pid}, "the new process of figure 3");
    for (int w = 0; w < open_ways; ++w) s.first.by_way[w].values.push_back(ctx.ctl.open_us[w]);
}

// Microseconds per call of open(), `count` calls, after one untimed.
double us_per_call(int count, const std::function<void()>& open) {
    open();
    const auto t = clock_type::now();
    for (int i = 0; i < count; ++i) open();
    return seconds_since(t) * 1e6 / count;
}

// Opens again, in this process, of object 0 of each kind (each handle dropped at once), each
// way in an order rotated by `rotation`.
void opens_again(const context& ctx, const named_mutexes& names, int rotation, open_series& s) {
    const std::string shm_name = object_name(names.base(), 0);
    const std::string boost = boost_name(names.base(), 0);
    const std::function<void()> open[open_ways] = {
        [&] {
            if (!mutex_object::open(shm_name)) throw std::runtime_error("empty handle");
        },
        [&] {
            if (!mutex_object::open_or_create(shm_name)) throw std::runtime_error("empty handle");
        },
        [&] { boost_mutexes::open_and_close(boost, true); },
        [&] { boost_mutexes::open_and_close(boost, false); },
    };
    for (int k = 0; k < open_ways; ++k) {
        const int w = (k + rotation) % open_ways;
        const bool is_boost = w == boost_open_or_create || w == boost_open_only;
        s.again.by_way[w].values.push_back(
            is_boost && !have_boost ? no_value : us_per_call(ctx.reopen_count, open[w]));
    }
}

// Adds the figures of one case: Boost open_or_create the baseline of both shmpool ways, Boost
// open_only for reference (no ratio). Without Boost: the shmpool ways alone.
void add_case(const case_series& c) {
    if (!have_boost) {
        add_figure(open_section, c.by_way[shm_open]);
        add_figure(open_section, c.by_way[shm_open_or_create]);
        return;
    }
    const series& base = c.by_way[boost_open_or_create];
    add_figure(open_section, base);
    add_figure(open_section, c.by_way[shm_open], &base);
    add_figure(open_section, c.by_way[shm_open_or_create], &base);
    add_figure(open_section, c.by_way[boost_open_only]);
}

}  // namespace

void run_open_times(const context& ctx) {
    // Object 0 of each kind warms the new process up; 1..2 open_count are opened there once.
    named_mutexes names(ctx.guard.make_name("open"), 2 * ctx.open_count + 1);
    names.create();
    open_series s;
    for (int r = 0; r < ctx.rounds; ++r) {
        if (r % 2 == 1) {
            opens_again(ctx, names, r, s);
            first_opens(ctx, names, r, s);
        } else {
            first_opens(ctx, names, r, s);
            opens_again(ctx, names, r, s);
        }
    }
    add_case(s.first);
    add_case(s.again);
}

}  // namespace first_day
