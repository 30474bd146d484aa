// bench/first_day: what the copies of this program that the benchmark spawns run (hidden
// subcommands, not in --help). They are unrelated processes: each opens the control block and
// the objects it uses by name, as another program would.
//
//   first_day --contend CONTROL MUTEX INDEX PARENT_PID
//       figure 2: opens the shared_object<robust_mutex> MUTEX and contends for it at the gate
//       (contend(), slot INDEX);
//   first_day --open-first CONTROL NAMES_BASE COUNT ROTATION PARENT_PID
//       figure 3: opens, once each, objects it never opened before, COUNT for each of the four
//       ways (open_way: shmpool open, shmpool open_or_create, Boost open_or_create, Boost
//       open_only; the Boost ones only when built with Boost), after one of each kind, untimed,
//       that warms both libraries up; the ways in an order rotated by ROTATION. Writes the
//       microseconds per open to the control block (NaN for a way not measured).
#include <cstdio>
#include <exception>
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

int number_arg(const std::string& text) {
    std::size_t used = 0;
    const int n = std::stoi(text, &used);
    if (used != text.size()) throw std::invalid_argument("not a number: " + text);
    return n;
}

int contend_by_name(const std::vector<std::string>& a) {
    if (a.size() != 4) throw std::invalid_argument("usage: --contend CONTROL MUTEX INDEX PARENT");
    die_with_parent(number_arg(a[3]));
    control& c = open_control(a[0]);
    const mutex_object m = mutex_object::open(a[1]);
    const int i = number_arg(a[2]);
    if (i < 0 || i >= max_procs) throw std::invalid_argument("bad index " + a[2]);
    contend(c, i, [&]() -> shmpool::robust_mutex& { return *m; });
    return 0;
}

// The objects way `w` opens in the new process: 1..count for the open_only ways, count+1..2 count
// for the open_or_create ways (object 0 of each kind is the warm-up).
int first_index(open_way w, int count) {
    return w == shm_open || w == boost_open_only ? 1 : count + 1;
}

// Microseconds per call of open(i), for i = first .. first + count - 1.
double us_per_open(int first, int count, const std::function<void(int)>& open) {
    const auto t = clock_type::now();
    for (int i = first; i < first + count; ++i) open(i);
    return seconds_since(t) * 1e6 / count;
}

// Microseconds per open of way `w`; every handle stays open (closing the last Boost handle of a
// mutex unmaps it; shmpool keeps its mappings anyway).
double time_way(open_way w, const std::string& base, int count, boost_mutexes& boost) {
    const int first = first_index(w, count);
    switch (w) {
        case shm_open:
            return us_per_open(first, count,
                               [&](int i) { mutex_object::open(object_name(base, i)); });
        case shm_open_or_create:
            return us_per_open(first, count,
                               [&](int i) { mutex_object::open_or_create(object_name(base, i)); });
        case boost_open_or_create:
            return us_per_open(first, count,
                               [&](int i) { boost.open_or_create(boost_name(base, i)); });
        case boost_open_only:
            return us_per_open(first, count, [&](int i) { boost.open_only(boost_name(base, i)); });
    }
    return no_value;
}

int open_first(const std::vector<std::string>& a) {
    if (a.size() != 5)
        throw std::invalid_argument("usage: --open-first CONTROL BASE COUNT ROTATION PARENT");
    die_with_parent(number_arg(a[4]));
    control& c = open_control(a[0]);
    const int count = number_arg(a[2]);
    const int rotation = number_arg(a[3]);
    if (count < 1) throw std::invalid_argument("bad count " + a[2]);
    boost_mutexes boost;
    mutex_object::open(object_name(a[1], 0));  // warm-up, untimed
    if (have_boost) boost.open_only(boost_name(a[1], 0));
    for (int k = 0; k < open_ways; ++k) {
        const auto w = open_way((k + rotation) % open_ways);
        const bool is_boost = w == boost_open_or_create || w == boost_open_only;
        c.open_us[w].store(is_boost && !have_boost ? no_value : time_way(w, a[1], count, boost));
    }
    return 0;
}

}  // namespace

control& open_control(const std::string& name) {
    static bytes memory;  // mapped for the life of the process
    memory = bytes::open(name);
    if (memory.size() < sizeof(control)) throw std::runtime_error(name + " is too small");
    return *std::launder(reinterpret_cast<control*>(memory.data()));
}

int run_hidden_command(int argc, char** argv) {
    if (argc < 2) return -1;
    const std::string command = argv[1];
    if (command != contend_command && command != open_command) return -1;
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        return command == contend_command ? contend_by_name(args) : open_first(args);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "first_day %s: %s\n", command.c_str(), e.what());
        return 1;
    }
}

}  // namespace first_day
