// A counter the book could not write in Python: a shmpool::raw_value<long> incremented with an
// atomic fetch_add, no lock at all. Exact, and the fastest.
#include <unistd.h>

#include <shmpool/value.hpp>
#include <string>

#include "counter_common.hpp"

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "raw_value<long> with atomic fetch_add");
    const std::string name = "shmpool_demo_counter_" + std::to_string(::getpid());
    auto counter = shmpool::raw_value<long>::create(name, 0);
    const double s = counter_demo::run_processes(o.procs, [&] {
        for (long i = 0; i < o.count; ++i) counter.fetch_add(1, std::memory_order_relaxed);
    });
    const long total = counter.load();
    shmpool::raw_value<long>::remove(name);
    return counter_demo::report("raw_value with atomic fetch_add", o, total, s, true);
}
