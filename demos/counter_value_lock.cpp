// The book's fourth counter: a shmpool::value<long> incremented under its own lock, held for
// the whole read-modify-write with with_lock(). Exact.
#include <unistd.h>

#include <shmpool/value.hpp>
#include <string>

#include "counter_common.hpp"

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "value<long> incremented under its lock");
    const std::string name = "shmpool_demo_counter_" + std::to_string(::getpid());
    auto counter = shmpool::value<long>::create(name, 0);
    const double s = counter_demo::run_processes(o.procs, [&] {
        for (long i = 0; i < o.count; ++i) counter.with_lock([](long& x) { ++x; });
    });
    const long total = counter.load();
    shmpool::value<long>::remove(name);
    return counter_demo::report("value with its lock (with_lock)", o, total, s, true);
}
