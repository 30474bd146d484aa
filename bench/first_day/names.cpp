// bench/first_day: the named mutexes of figure 3 (first_day.hpp, named_mutexes): shmpool objects
// and Boost.Interprocess named mutexes (through boost_side.cpp; none when built without Boost),
// created and held by this process and removed at the end, on an exception, and (the Boost ones:
// shmpool removes its own segments) on SIGINT and SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <shmpool/shared_object.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "first_day.hpp"

namespace first_day {

using mutex_object = shmpool::shared_object<shmpool::robust_mutex>;

std::string object_name(const std::string& base, int i) { return base + "_o" + std::to_string(i); }
std::string boost_name(const std::string& base, int i) { return base + "_b" + std::to_string(i); }

namespace {

// SIGINT and SIGTERM: the Boost mutexes made so far are unlinked (glibc keeps a named semaphore
// NAME in /dev/shm/sem.NAME), then the signal goes on to the handler that was there before
// (shmpool's, which removes the segments this process created and re-raises the signal).
namespace on_signal {
char prefix[200];  // "/dev/shm/sem.BASE_b": the path of mutex i is prefix + i
std::atomic<int> count{0};
pid_t owner = 0;
struct sigaction previous[2];

void handler(int sig) {
    if (::getpid() == owner) {
        char path[sizeof prefix + 16];
        const std::size_t len = std::strlen(prefix);
        for (int i = 0; i < count.load(); ++i) {
            std::memcpy(path, prefix, len);
            char digits[16];
            int n = 0;
            for (int v = i; n == 0 || v > 0; v /= 10) digits[n++] = char('0' + v % 10);
            for (int k = 0; k < n; ++k) path[len + k] = digits[n - 1 - k];
            path[len + n] = '\0';
            ::unlink(path);
        }
    }
    ::sigaction(sig, &previous[sig == SIGINT ? 0 : 1], nullptr);
    ::raise(sig);  // delivered when this handler returns, to the previous one
}
}  // namespace on_signal

}  // namespace

void install_signal_cleanup() {
    on_signal::owner = ::getpid();
    struct sigaction act {};
    act.sa_handler = on_signal::handler;
    sigemptyset(&act.sa_mask);
    for (int i = 0; i < 2; ++i) {
        const int sig = i == 0 ? SIGINT : SIGTERM;
        struct sigaction& old = on_signal::previous[i];
        // An ignored signal (SIGINT of a background job started by a script) stays ignored:
        // the run goes on, so its mutexes must stay too. shmpool leaves it alone as well.
        if (::sigaction(sig, nullptr, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_IGN)
            continue;
        ::sigaction(sig, &act, &old);
    }
}

named_mutexes::named_mutexes(std::string base, int count) : base_(std::move(base)), count_(count) {}

void named_mutexes::create() {
    const std::string prefix = "/dev/shm/sem." + boost_name(base_, 0);
    if (prefix.size() >= sizeof on_signal::prefix)
        throw std::runtime_error("name too long: " + prefix);
    std::memcpy(on_signal::prefix, prefix.c_str(), prefix.size() - 1);  // without the "0"
    on_signal::prefix[prefix.size() - 1] = '\0';
    for (int i = 0; i < count_; ++i) {
        mutex_object::create(object_name(base_, i));
        ++objects_;
        if (!have_boost) continue;
        on_signal::count.store(i + 1);  // before it exists: unlinking a missing name is harmless
        boost_.create(boost_name(base_, i));
    }
}

named_mutexes::~named_mutexes() {
    const int boost_made = int(boost_.size());
    boost_.close_all();
    for (int i = 0; i < boost_made; ++i) {
        try {
            boost_mutexes::remove(boost_name(base_, i));
        } catch (...) {
        }
    }
    on_signal::count.store(0);
    for (int i = 0; i < objects_; ++i) {
        try {
            mutex_object::remove(object_name(base_, i));
        } catch (...) {
        }
    }
}

}  // namespace first_day
