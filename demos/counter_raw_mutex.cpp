// The book's fifth counter: a shmpool::raw_value<long> (no lock of its own) incremented under a
// separate process-shared robust_mutex, like Python's RawValue with a Lock. Exact.
#include <unistd.h>

#include <mutex>
#include <shmpool/robust_mutex.hpp>
#include <shmpool/shared_object.hpp>
#include <shmpool/value.hpp>
#include <string>

#include "counter_common.hpp"

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "raw_value<long> under a separate mutex");
    const std::string name = "shmpool_demo_counter_" + std::to_string(::getpid());
    auto counter = shmpool::raw_value<long>::create(name, 0);
    // The mutex is a named shared object of its own, constructed before its name appears.
    auto mutex = shmpool::shared_object<shmpool::robust_mutex>::create(name + "_lock");
    const double s = counter_demo::run_processes(o.procs, [&] {
        for (long i = 0; i < o.count; ++i) {
            std::lock_guard held(*mutex);
            *counter.data() += 1;
        }
    });
    const long total = counter.load();
    shmpool::raw_value<long>::remove(name);
    shmpool::shared_object<shmpool::robust_mutex>::remove(name + "_lock");
    return counter_demo::report("raw_value under a separate robust_mutex", o, total, s, true);
}
