// The "first day" benchmark: three claims of the first-day work, each against its baseline,
// measured in the same run, interleaved round by round (median, min and max over the rounds,
// and the ratio to the baseline):
//
//   1. first pass   process_pool::for_each_row's first call over a fresh GiB-sized array the
//                   parent created and filled (2 workers, which never touched its pages),
//                   against the naive way: fork 2 children that memset their rows and _exit.
//                   Target: >= 3x (reported, not asserted);
//   2. lock rate    lock+unlock pairs per second of a shared_object<robust_mutex> opened by
//                   name in 1 and 4 spawned copies of this program (unrelated processes),
//                   against the same robust_mutex placed in place in a shared array and used
//                   by as many forked children (the old way). Target: within 10% (>= 0.9x);
//   3. open time    microseconds per open of an existing named mutex: shared_object::open and
//                   ::open_or_create against Boost.Interprocess's named_mutex(open_or_create),
//                   first in a new process and again in the process that holds it. No target;
//                   without Boost (not found at build time) the shmpool figures alone.
//
// Ratios read "times better than the baseline": value / baseline for rates, baseline / value
// for times, so > 1 always means shmpool is ahead. Everything it creates in /dev/shm is removed
// at the end, also when it fails or is interrupted (SIGINT, SIGTERM).
//
// This file: the options, the order of the phases, the printed sections and the JSON. Each
// phase has a file of its own (first_day.hpp lists them). The spawned copies run hidden
// subcommands (children.cpp).
//
//   first_day [--gib 1] [--rounds 5] [--quick] [--json FILE]
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "first_day.hpp"

namespace first_day {
namespace {

constexpr std::size_t rows = 2048;  // figure 1: rows of the array
// Figure 3: objects a new process opens each way (2 x this + 1 objects of each kind live at once).
// shmpool removes at most 256 segments of a process on SIGINT or SIGTERM (the rest stay in
// /dev/shm), so this stays well under 128.
constexpr int open_count = 100, quick_open_count = 20;
constexpr const char* prefix = "shmpool_bench_first_day";

struct options {
    double gib = 1;
    run_options run;
};

// Parses the command line (--quick: 1/16 GiB and 2 rounds, unless given).
options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "first_day: for_each_row's first pass against forked children, a robust_mutex opened "
        "by name against one placed in place, and opening a named mutex against Boost"};
    const CLI::Option* gib = app.add_option("--gib", o.gib, "figure 1: size of the array in GiB")
                                 ->check(CLI::PositiveNumber);
    add_run_options(app, o.run);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (gib->count() == 0) o.gib = 1.0 / 16;
        if (!o.run.rounds_given) o.run.rounds = 2;
    }
    return o;
}

// This program, for posix_spawn.
std::string self_path() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// The control block, constructed in the segment `memory`.
control& construct_control(const bytes& memory) {
    if (reinterpret_cast<std::uintptr_t>(memory.data()) % alignof(control) != 0)
        throw std::runtime_error("the control block is not aligned");
    return *new (memory.data()) control;
}

void print_header(const context& ctx) {
    std::printf(
        "shmpool first-day benchmark: %d rounds, interleaved; figure 1: %zu x %zu uint8 "
        "(%.3f GiB), 2 workers; figure 2: %d processes, %.2f s per rate; %zu usable cores\n",
        ctx.rounds, ctx.rows, ctx.cols, ctx.gb * 1e9 / double(1 << 30), max_procs, ctx.lock_seconds,
        shmpool::process_pool::usable_cores());
    std::printf("Boost.Interprocess (figure 3's baseline): %s\n",
                have_boost ? "yes"
                           : "NOT FOUND at build time: figure 3 has no baseline (install "
                             "libboost-dev and configure again)");
    std::printf(
        "ratio = times better than the baseline (value/baseline for rates, "
        "baseline/value for times)\n");
    std::fflush(stdout);
}

void print_elapsed(clock_type::time_point started) {
    std::printf("(%.1f s so far)\n", seconds_since(started));
    std::fflush(stdout);
}

// What this process left in /dev/shm (names with its PID), with a warning for each.
std::vector<std::string> leftovers() {
    const std::string mine = "_" + std::to_string(::getpid()) + "_";
    std::vector<std::string> left;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
        const std::string name = e.path().filename().string();
        if (name.find(prefix) != std::string::npos && name.find(mine) != std::string::npos)
            left.push_back(name);
    }
    for (const std::string& name : left)
        std::fprintf(stderr, "warning: left in /dev/shm: %s\n", name.c_str());
    return left;
}

json_config json_configuration(const context& ctx, double seconds) {
    return {{"gib", json_number(ctx.gb * 1e9 / double(1 << 30))},
            {"rows", ctx.rows},
            {"cols", ctx.cols},
            {"workers", ctx.pool.size()},
            {"rounds", ctx.rounds},
            {"quick", ctx.quick},
            {"lock_processes", max_procs},
            {"lock_seconds", json_number(ctx.lock_seconds)},
            {"open_count", ctx.open_count},
            {"reopen_count", ctx.reopen_count},
            {"boost", have_boost},
            {"usable_cores", shmpool::process_pool::usable_cores()},
            {"seconds", json_number(seconds)}};
}

void write_json(const std::string& path, const json_config& config) {
    write_json_file(path, figures_document("first_day", config));
}

// The three phases, each printed as soon as it is measured.
void run_phases(const context& ctx) {
    const auto started = clock_type::now();
    run_first_pass(ctx);
    print_section(pass_section, name_width, base_width);
    print_elapsed(started);
    run_lock_rates(ctx);
    print_section(lock_section, name_width, base_width);
    print_elapsed(started);
    run_open_times(ctx);
    print_section(open_section, name_width, base_width);
    if (!have_boost) std::printf("(no Boost baseline: built without Boost.Interprocess)\n");
}

// Sets up the pool, the control block and the context, runs the phases; returns the context's
// configuration for the JSON.
json_config run(const options& opt, const std::string& self) {
    shmpool::process_pool pool(2);                      // first: before anything else runs
    pool.for_each(0, pool.size(), [](std::size_t) {});  // warm: the timed calls are not its first
    array_names guard(prefix);
    const std::string control_name = guard.make_name("control");
    const bytes control_memory = bytes::create(control_name, {sizeof(control)});
    control& ctl = construct_control(control_memory);
    install_signal_cleanup();  // after the first segment: passes on to shmpool's handlers
    const std::size_t cols =
        std::max<std::size_t>(1, static_cast<std::size_t>(opt.gib * double(1 << 30)) / rows);
    const context ctx{.pool = pool,
                      .guard = guard,
                      .ctl = ctl,
                      .control_name = control_name,
                      .self = self,
                      .rows = rows,
                      .cols = cols,
                      .gb = double(rows * cols) / 1e9,
                      .rounds = opt.run.rounds,
                      .quick = opt.run.quick,
                      .lock_seconds = opt.run.quick ? 0.05 : 0.5,
                      .open_count = opt.run.quick ? quick_open_count : open_count,
                      .reopen_count = opt.run.quick ? 500 : 20000};
    print_header(ctx);
    const auto started = clock_type::now();
    run_phases(ctx);
    std::destroy_at(&ctl);
    guard.remove(control_name);
    return json_configuration(ctx, seconds_since(started));
}

}  // namespace
}  // namespace first_day

int main(int argc, char** argv) try {
    using namespace first_day;
    if (const int rc = run_hidden_command(argc, argv); rc >= 0) return rc;  // a spawned copy
    const options opt = parse(argc, argv);
    const json_config config = run(opt, self_path());
    const std::vector<std::string> left = leftovers();
    std::printf("\ntotal %.1f s%s\n", config.at("seconds").get<double>(),
                left.empty() ? "; nothing left in /dev/shm" : "");
    if (!opt.run.json.empty()) {
        write_json(opt.run.json, config);
        std::printf("wrote %s\n", opt.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "first_day: %s\n", e.what());
    return 1;
}
