// shmpool::robust_mutex on a process-shared, robust, error-checking pthread mutex.
#include "shmpool/robust_mutex.hpp"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <string>
#include <type_traits>
#include <utility>

#include "futex.hpp"
#include "os.hpp"

namespace shmpool {

static_assert(std::is_standard_layout_v<robust_mutex>);

namespace {

constexpr const char* died_message =
    "shmpool::robust_mutex: the previous owner died holding it; this thread holds it now: "
    "repair the data it protects, call mark_consistent(), then unlock()";
constexpr const char* not_recoverable_message =
    "shmpool::robust_mutex: not recoverable: it was unlocked after its owner's death without "
    "mark_consistent(); construct it again";

/// Turns the result of a pthread lock call into "held" / "not held" or an exception.
bool check_lock_result(int rc) {
    switch (rc) {
        case 0:
            return true;
        case EBUSY:
        case ETIMEDOUT:
            return false;
        case EOWNERDEAD:
            throw owner_died_error(died_message);
        case ENOTRECOVERABLE:
            throw not_recoverable_error(not_recoverable_message);
        case EDEADLK:
            detail::throw_errno(rc, "shmpool::robust_mutex: this thread already holds it");
        default:
            detail::throw_errno(rc, "shmpool::robust_mutex: cannot lock");
    }
}

void check_init(int rc, const char* what) {
    if (rc != 0) detail::throw_errno(rc, std::string("shmpool::robust_mutex: ") + what);
}

/// glibc's pthread_mutex_trylock (2.36 at least) reports ENOTRECOVERABLE but leaves the robust
/// mutex locked by the caller's TID (it tests the value before its compare-and-swap), so every
/// later lock would fail with EDEADLK or block. Releases the futex word as pthread_mutex_lock
/// does in that case: the mutex stays not recoverable.
void release_after_not_recoverable_trylock(pthread_mutex_t& m) noexcept {
    int* word = &m.__data.__lock;
    if ((__atomic_load_n(word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) != detail::current_tid()) return;
    if (__atomic_exchange_n(word, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) {
        detail::futex_wake_all(word);
    }
}

timespec to_timespec(detail::steady_time deadline) {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

robust_mutex::robust_mutex() {
    pthread_mutexattr_t attr;
    check_init(::pthread_mutexattr_init(&attr), "cannot create attributes");
    int rc = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0) rc = ::pthread_mutex_init(&mutex_, &attr);
    ::pthread_mutexattr_destroy(&attr);
    check_init(rc, "cannot initialise a process-shared robust mutex");
}

robust_mutex::~robust_mutex() { ::pthread_mutex_destroy(&mutex_); }

void robust_mutex::lock() { check_lock_result(::pthread_mutex_lock(&mutex_)); }

bool robust_mutex::try_lock() {
    const int rc = ::pthread_mutex_trylock(&mutex_);
    if (rc == ENOTRECOVERABLE) release_after_not_recoverable_trylock(mutex_);
    return check_lock_result(rc);
}

bool robust_mutex::lock_until(detail::steady_time deadline) {
    if (deadline == detail::no_deadline) {
        lock();
        return true;
    }
    // std::chrono::steady_clock is CLOCK_MONOTONIC (glibc 2.30+ has pthread_mutex_clocklock).
    const timespec when = to_timespec(deadline);
    return check_lock_result(::pthread_mutex_clocklock(&mutex_, CLOCK_MONOTONIC, &when));
}

void robust_mutex::unlock() noexcept {
    ::pthread_mutex_unlock(&mutex_);  // EPERM when this thread does not hold it: nothing done
}

void robust_mutex::mark_consistent() {
    if (const int rc = ::pthread_mutex_consistent(&mutex_); rc != 0) {
        detail::throw_errno(rc,
                            "shmpool::robust_mutex::mark_consistent(): the mutex is not held "
                            "after its owner's death");
    }
}

// --- robust_lock ------------------------------------------------------------------------------

robust_lock::robust_lock(robust_lock&& o) noexcept
    : mutex_(std::exchange(o.mutex_, nullptr)),
      owns_(std::exchange(o.owns_, false)),
      owner_died_(std::exchange(o.owner_died_, false)) {}

robust_lock& robust_lock::operator=(robust_lock&& o) noexcept {
    if (this != &o) {
        if (owns_) mutex_->unlock();
        mutex_ = std::exchange(o.mutex_, nullptr);
        owns_ = std::exchange(o.owns_, false);
        owner_died_ = std::exchange(o.owner_died_, false);
    }
    return *this;
}

robust_lock::~robust_lock() {
    if (owns_) mutex_->unlock();
}

template <class Acquire>
bool robust_lock::acquire(Acquire&& how) {
    if (mutex_ == nullptr) {
        detail::throw_errno(EPERM, "shmpool::robust_lock: no mutex");
    }
    if (owns_) detail::throw_errno(EDEADLK, "shmpool::robust_lock: already held");
    try {
        owns_ = how(*mutex_);
        owner_died_ = false;
    } catch (const owner_died_error&) {
        owns_ = true;  // the mutex is held: record the death instead of throwing it
        owner_died_ = true;
    }
    return owns_;
}

void robust_lock::lock() {
    acquire([](robust_mutex& m) {
        m.lock();
        return true;
    });
}

bool robust_lock::try_lock() {
    return acquire([](robust_mutex& m) { return m.try_lock(); });
}

bool robust_lock::lock_until(detail::steady_time deadline) {
    return acquire([deadline](robust_mutex& m) { return m.try_lock_until(deadline); });
}

void robust_lock::unlock() {
    if (!owns_) detail::throw_errno(EPERM, "shmpool::robust_lock::unlock(): not held");
    mutex_->unlock();
    owns_ = false;
    owner_died_ = false;
}

void robust_lock::mark_consistent() {
    if (!owns_) {
        detail::throw_errno(EPERM, "shmpool::robust_lock::mark_consistent(): not held");
    }
    mutex_->mark_consistent();
    owner_died_ = false;
}

robust_mutex* robust_lock::release() noexcept {
    owns_ = false;
    owner_died_ = false;
    return std::exchange(mutex_, nullptr);
}

}  // namespace shmpool
