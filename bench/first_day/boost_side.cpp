// bench/first_day: Boost.Interprocess's named_mutex, the baseline of figure 3, and the only file
// of the program that includes Boost. On Linux a named_mutex is a POSIX named semaphore
// (sem_open: /dev/shm/sem.NAME). Built without Boost (CMake did not find it;
// SHMPOOL_BENCH_BOOST is 0), have_boost is false and every member throws std::logic_error: the
// callers check have_boost first and leave the baseline out.
#include <stdexcept>
#include <string>

#include "first_day.hpp"

#if SHMPOOL_BENCH_BOOST
#include <boost/interprocess/sync/named_mutex.hpp>
#include <deque>
#endif

namespace first_day {

#if SHMPOOL_BENCH_BOOST

namespace bip = boost::interprocess;

const bool have_boost = true;

struct boost_mutexes::held {
    std::deque<bip::named_mutex> open;  // closing the last handle of one unmaps it
};

boost_mutexes::boost_mutexes() : held_(std::make_unique<held>()) {}
boost_mutexes::~boost_mutexes() = default;

void boost_mutexes::create(const std::string& name) {
    held_->open.emplace_back(bip::create_only, name.c_str());
}

void boost_mutexes::open_only(const std::string& name) {
    held_->open.emplace_back(bip::open_only, name.c_str());
}

void boost_mutexes::open_or_create(const std::string& name) {
    held_->open.emplace_back(bip::open_or_create, name.c_str());
}

std::size_t boost_mutexes::size() const { return held_->open.size(); }

void boost_mutexes::close_all() { held_->open.clear(); }

void boost_mutexes::remove(const std::string& name) { bip::named_mutex::remove(name.c_str()); }

void boost_mutexes::open_and_close(const std::string& name, bool or_create) {
    if (or_create) {
        const bip::named_mutex m(bip::open_or_create, name.c_str());
    } else {
        const bip::named_mutex m(bip::open_only, name.c_str());
    }
}

#else  // built without Boost

const bool have_boost = false;

namespace {
[[noreturn]] void no_boost() {
    throw std::logic_error("bench/first_day was built without Boost.Interprocess");
}
}  // namespace

struct boost_mutexes::held {};

boost_mutexes::boost_mutexes() : held_(std::make_unique<held>()) {}
boost_mutexes::~boost_mutexes() = default;
void boost_mutexes::create(const std::string&) { no_boost(); }
void boost_mutexes::open_only(const std::string&) { no_boost(); }
void boost_mutexes::open_or_create(const std::string&) { no_boost(); }
std::size_t boost_mutexes::size() const { return 0; }
void boost_mutexes::close_all() {}
void boost_mutexes::remove(const std::string&) { no_boost(); }
void boost_mutexes::open_and_close(const std::string&, bool) { no_boost(); }

#endif

}  // namespace first_day
