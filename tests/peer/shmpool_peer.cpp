// A separate program the tests start with posix_spawn, so that two unrelated processes (not a
// parent and its fork) share a named lock and a named value, as two programs started from the
// shell would.
//
//   shmpool_peer increment LOCK COUNTER N   open_or_create both, then N times: lock, ++counter
//                                           (exit 3 if it found the lock's owner dead, after
//                                           repairing; 0 otherwise)
//   shmpool_peer die-holding LOCK READY     lock LOCK, create the file READY, wait to be killed
//   shmpool_peer value-add VALUE N          open_or_create value<long> VALUE, N times +1 under
//                                           its lock (with_lock with a repair function)
//   shmpool_peer orphan NAME persistent|temporary
//                                           create the float32 array NAME (2 x 3), then die
//                                           without removing it (_exit): an orphan for gc
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <shmpool/robust_mutex.hpp>
#include <shmpool/shared_array.hpp>
#include <shmpool/shared_object.hpp>
#include <shmpool/value.hpp>
#include <string>

namespace {

int increment(const char* lock_name, const char* counter_name, long n) {
    const shmpool::create_options keep{.persistent = true};  // outlives this program
    auto lock = shmpool::shared_object<shmpool::robust_mutex>::open_or_create(keep, lock_name);
    auto counter = shmpool::shared_object<long>::open_or_create(keep, counter_name, 0L);
    bool repaired = false;
    for (long i = 0; i < n; ++i) {
        shmpool::robust_lock held(*lock);
        if (held.owner_died()) {
            repaired = true;
            held.mark_consistent();
        }
        ++*counter;
    }
    return repaired ? 3 : 0;
}

int die_holding(const char* lock_name, const char* ready_file) {
    auto lock = shmpool::shared_object<shmpool::robust_mutex>::open_or_create({.persistent = true},
                                                                              lock_name);
    lock->lock();
    std::ofstream(ready_file) << "locked\n";
    for (;;) ::pause();
}

int value_add(const char* value_name, long n) {
    auto v = shmpool::value<long>::open_or_create(value_name, 0L, {.persistent = true});
    for (long i = 0; i < n; ++i) v.with_lock([](long& x) { ++x; }, [](long&) {});
    return 0;
}

int orphan(const char* name, const std::string& kind) {
    const shmpool::create_options opts{.persistent = kind == "persistent"};
    shmpool::shared_array<float>::create(name, {2, 3}, opts);
    ::_exit(0);  // no exit handlers: the array stays behind
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string what = argc > 1 ? argv[1] : "";
        if (what == "increment" && argc == 5)
            return increment(argv[2], argv[3], std::atol(argv[4]));
        if (what == "die-holding" && argc == 4) return die_holding(argv[2], argv[3]);
        if (what == "value-add" && argc == 4) return value_add(argv[2], std::atol(argv[3]));
        if (what == "orphan" && argc == 4) return orphan(argv[2], argv[3]);
        std::fprintf(stderr, "usage: shmpool_peer increment|die-holding|value-add|orphan ...\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "shmpool_peer: %s\n", e.what());
        return 1;
    }
}
