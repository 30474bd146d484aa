// What the fault-injection tests of shmpool::process_pool share: an outside process that
// SIGKILLs a pool's workers at random moments, a task that counts each run of an index, and the
// check that a call's outcome (a result, or worker_died_error) matches those counts exactly.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pool_control.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool::test {

using namespace std::chrono_literals;

// --- reading /proc -----------------------------------------------------------------------

inline std::vector<pid_t> children_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (pid_t c; f >> c;) out.push_back(c);
    return out;
}

inline pid_t parent_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(f, text);
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    return ppid;
}

// The pool's helper process: the child of this process whose children are the workers.
inline pid_t zygote_of(const process_pool& pool) {
    const std::vector<int> workers = pool.worker_pids();
    for (pid_t c : children_of(::getpid())) {
        const std::vector<pid_t> kids = children_of(c);
        if (!workers.empty() && std::all_of(workers.begin(), workers.end(), [&](int w) {
                return std::find(kids.begin(), kids.end(), w) != kids.end();
            }))
            return c;
    }
    return 0;
}

// --- the outside killer ------------------------------------------------------------------

/// What the test and the killer process share.
struct killer_board {
    std::atomic<std::uint32_t> call{0};     // bumped by the test when a call starts
    std::atomic<std::uint32_t> in_call{0};  // 1 while a call runs
    std::atomic<std::uint32_t> quit{0};
    std::atomic<std::uint32_t> kills{0};
    std::atomic<pid_t> zygote{0};
    std::uint32_t max_kills_per_call = 1;
    std::uint32_t max_delay_us = 2000;
};

// SIGKILLs `pid` if it is still a child of `zygote` (a pidfd, so never a recycled PID).
inline bool kill_worker(pid_t pid, pid_t zygote) {
    // By system call: glibc 2.36's <sys/pidfd.h> lacks extern "C".
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return false;
    const bool ours = parent_of(pid) == zygote;
    const bool killed = ours && ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) == 0;
    ::close(fd);
    return killed;
}

[[noreturn]] inline void killer_main(killer_board& b, std::uint32_t seed) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::alarm(600);
    std::mt19937 rng(seed);
    std::uint32_t seen_call = 0, planned = 0, done = 0;
    while (!b.quit.load()) {
        if (!b.in_call.load()) {
            ::usleep(20);
            continue;
        }
        const std::uint32_t call = b.call.load();
        if (call != seen_call) {  // a new call: 0..max kills at random moments in it
            seen_call = call;
            planned = rng() % (b.max_kills_per_call + 1);
            done = 0;
        }
        if (done >= planned) {
            ::usleep(20);
            continue;
        }
        ::usleep(rng() % b.max_delay_us);
        const pid_t zygote = b.zygote.load();
        const std::vector<pid_t> workers = children_of(zygote);
        if (workers.empty() || b.call.load() != call || !b.in_call.load()) continue;
        ++done;
        if (kill_worker(workers[rng() % workers.size()], zygote)) b.kills.fetch_add(1);
    }
    ::_exit(0);
}

/// A process, forked before the pool, that SIGKILLs the pool's workers at random moments while
/// the test says a call is running.
class outside_killer {
public:
    outside_killer(std::uint32_t seed, std::uint32_t max_kills_per_call,
                   std::uint32_t max_delay_us) {
        void* mem = ::mmap(nullptr, sizeof(killer_board), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) throw std::runtime_error("mmap");
        board_ = new (mem) killer_board;
        board_->max_kills_per_call = max_kills_per_call;
        board_->max_delay_us = max_delay_us;
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) killer_main(*board_, seed);
    }
    ~outside_killer() {
        board_->quit.store(1);
        if (pid_ > 0) {
            try {
                reap_child(pid_, 5s);
            } catch (const error&) {
            }
        }
        ::munmap(board_, sizeof(killer_board));
    }
    outside_killer(const outside_killer&) = delete;
    outside_killer& operator=(const outside_killer&) = delete;

    void watch(const process_pool& pool) { board_->zygote.store(zygote_of(pool)); }
    pid_t zygote() const { return board_->zygote.load(); }
    void call_starts() {
        board_->call.fetch_add(1);
        board_->in_call.store(1);
    }
    void call_ends() { board_->in_call.store(0); }
    std::uint32_t kills() const { return board_->kills.load(); }

private:
    killer_board* board_ = nullptr;
    pid_t pid_ = -1;
};

// --- the task and what a call must leave behind -------------------------------------------

/// Counts each run of index i in hits[i] when the task ends; spins a little first, so that a
/// kill often lands inside a task.
struct hit_task {
    shared_array<std::uint32_t> hits;
    std::uint32_t spin = 2000;  // about 1 us
    void operator()(std::size_t i) const {
        for (std::uint32_t k = 0; k < spin; ++k) asm volatile("" ::: "memory");
        std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1, std::memory_order_relaxed);
    }
};

/// A zeroed uint32 array of `n` counters in shared memory, removed at the end of the scope.
struct counters {
    std::string name;
    test::shm_guard guard;
    shared_array<std::uint32_t> array;

    explicit counters(std::size_t n, const std::string& tag = "hits")
        : name(unique_name(tag)),
          guard(name),
          array(shared_array<std::uint32_t>::create(name, {n})) {}
    ~counters() {
        try {
            shared_array<std::uint32_t>::remove(name);
        } catch (...) {
        }
    }
    void zero() const { std::memset(array.data(), 0, array.size() * sizeof(std::uint32_t)); }
    std::uint32_t operator[](std::size_t i) const { return array.data()[i]; }
};

inline std::size_t count_of(const std::vector<std::size_t>& v, std::size_t i) {
    return static_cast<std::size_t>(std::count(v.begin(), v.end(), i));
}

inline bool inside(const std::vector<index_range>& ranges, std::size_t i) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [i](const index_range& r) { return r.contains(i); });
}

/// Checks one call's outcome against the hit counts; returns "" or what is wrong.
/// Returned normally: every index of [first, last) ran once, those in r.rerun once or twice
/// (more if interrupted again). Threw: those outside e.not_completed() likewise; those inside
/// ran at most as often as they were interrupted. Nothing outside [first, last) ran.
inline std::string check_outcome(const std::uint32_t* hits, std::size_t size, std::size_t first,
                                 std::size_t last, const call_result* r,
                                 const worker_died_error* e) {
    std::ostringstream why;
    const std::vector<std::size_t>& cut = r ? r->rerun : e->interrupted();
    const std::vector<index_range> none;
    const std::vector<index_range>& left = r ? none : e->not_completed();
    if (r && r->completed != last - first)
        why << "completed " << r->completed << ", expected " << last - first << "; ";
    if (e) {
        if (e->deaths().empty()) why << "an error without a death; ";
        for (std::size_t k = 0; k < left.size(); ++k) {
            if (left[k].begin >= left[k].end || left[k].begin < first || left[k].end > last ||
                (k > 0 && left[k].begin <= left[k - 1].end))
                why << "bad not_completed range [" << left[k].begin << ", " << left[k].end << "); ";
        }
    }
    int shown = 0;
    for (std::size_t i = 0; i < size && shown < 5; ++i) {
        const std::size_t h = hits[i], again = count_of(cut, i);
        bool ok;
        if (i < first || i >= last)
            ok = h == 0;
        else if (inside(left, i))
            ok = h <= again;
        else
            ok = h >= 1 && h <= 1 + again;
        if (!ok) {
            why << "index " << i << " ran " << h << " times (interrupted " << again << " times, "
                << (inside(left, i) ? "reported" : "not reported") << " as not completed); ";
            ++shown;
        }
    }
    return why.str();
}

/// The tally of a series of calls.
struct tally {
    int calls = 0, succeeded = 0, threw = 0, with_deaths = 0, reruns = 0;
};

/// Runs `calls` calls of hit_task over [first, first + n) on `pool`, with the killer watching
/// each; checks every outcome.
inline tally run_calls(process_pool& pool, outside_killer* killer, int calls, std::size_t n,
                       const call_options& opts, const std::string& label) {
    const std::size_t first = 100, size = n + 200;
    const counters count(size);
    const shared_array<std::uint32_t> hits = count.array;
    tally t;
    for (int k = 0; k < calls; ++k) {
        count.zero();
        if (killer) killer->call_starts();
        std::string wrong;
        try {
            const call_result r = pool.for_each(first, first + n, hit_task{hits}, opts);
            if (killer) killer->call_ends();
            ++t.succeeded;
            t.with_deaths += r.workers_died > 0;
            t.reruns += static_cast<int>(r.rerun.size());
            wrong = check_outcome(hits.data(), size, first, first + n, &r, nullptr);
        } catch (const worker_died_error& e) {
            if (killer) killer->call_ends();
            ++t.threw;
            ++t.with_deaths;
            wrong = check_outcome(hits.data(), size, first, first + n, nullptr, &e);
        }
        ++t.calls;
        if (!wrong.empty()) {
            ADD_FAILURE() << label << ", call " << k << ": " << wrong;
            break;
        }
    }
    return t;
}

inline std::string label_of(std::size_t workers, const call_options& o) {
    return std::to_string(workers) + " workers, " +
           (o.kind == schedule::dynamic ? "dynamic" : "static") + ", chunk " +
           std::to_string(o.chunk) + ", retries " + std::to_string(o.retries);
}

}  // namespace shmpool::test
