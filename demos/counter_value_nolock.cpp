// The book's third counter: a shmpool::value<long> incremented with load() then store(). Each
// call takes the value's lock, but not the pair: another process writes in between and
// increments are lost (never corrupted). Expected to come out wrong; exits 0 unless a process
// fails.
#include <unistd.h>

#include <shmpool/value.hpp>
#include <string>

#include "counter_common.hpp"

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "value<long>: load() then store() (loses updates)");
    const std::string name = "shmpool_demo_counter_" + std::to_string(::getpid());
    auto counter = shmpool::value<long>::create(name, 0);
    const double s = counter_demo::run_processes(o.procs, [&] {
        for (long i = 0; i < o.count; ++i) counter.store(counter.load() + 1);
    });
    const long total = counter.load();
    shmpool::value<long>::remove(name);
    return counter_demo::report("value without holding its lock (load, then store)", o, total, s,
                                false);
}
