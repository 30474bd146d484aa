// Fault injection for shmpool::process_pool: workers SIGKILLed by an outside process at random
// moments, and at chosen points of the ledger protocol through a test hook, during thousands of
// short calls. Whatever the timing, a call either returns having run every index of its range
// (exactly once, except the indices call_result::rerun names, which ran again after their worker
// died in them) or throws worker_died_error naming exactly the indices that may not have
// completed. A shared hit-count array checks it index by index.
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

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using detail::fault_point;
using detail::pool_internals;
using test::unique_name;

// --- reading /proc -----------------------------------------------------------------------

std::vector<pid_t> children_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (pid_t c; f >> c;) out.push_back(c);
    return out;
}

pid_t parent_of(pid_t pid) {
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
pid_t zygote_of(const process_pool& pool) {
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
bool kill_worker(pid_t pid, pid_t zygote) {
    // By system call: glibc 2.36's <sys/pidfd.h> lacks extern "C".
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return false;
    const bool ours = parent_of(pid) == zygote;
    const bool killed = ours && ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0) == 0;
    ::close(fd);
    return killed;
}

[[noreturn]] void killer_main(killer_board& b, std::uint32_t seed) {
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

std::size_t count_of(const std::vector<std::size_t>& v, std::size_t i) {
    return static_cast<std::size_t>(std::count(v.begin(), v.end(), i));
}

bool inside(const std::vector<index_range>& ranges, std::size_t i) {
    return std::any_of(ranges.begin(), ranges.end(),
                       [i](const index_range& r) { return r.contains(i); });
}

/// Checks one call's outcome against the hit counts; returns "" or what is wrong.
/// Returned normally: every index of [first, last) ran once, those in r.rerun once or twice
/// (more if interrupted again). Threw: those outside e.not_completed() likewise; those inside
/// ran at most as often as they were interrupted. Nothing outside [first, last) ran.
std::string check_outcome(const std::uint32_t* hits, std::size_t size, std::size_t first,
                          std::size_t last, const call_result* r, const worker_died_error* e) {
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
tally run_calls(process_pool& pool, outside_killer* killer, int calls, std::size_t n,
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

std::string label_of(std::size_t workers, const call_options& o) {
    return std::to_string(workers) + " workers, " +
           (o.kind == schedule::dynamic ? "dynamic" : "static") + ", chunk " +
           std::to_string(o.chunk) + ", retries " + std::to_string(o.retries);
}

// --- 1. random SIGKILLs from outside --------------------------------------------------------

// 12 configurations x 100 calls of 2,000 indices; up to 3 workers killed per call at random
// moments (in a task, between chunks, during the ledger's steps, while the parent waits).
TEST(process_pool_faults, random_sigkills_never_lose_an_index) {
    int calls = 0, deaths = 0;
    for (std::size_t workers : {1, 2, 3}) {
        outside_killer killer(static_cast<std::uint32_t>(1234 + workers), 3, 1000);
        process_pool pool(workers);
        killer.watch(pool);
        ASSERT_NE(killer.zygote(), 0) << "cannot find the pool's helper process";
        for (schedule kind : {schedule::dynamic, schedule::static_}) {
            for (int retries : {0, 3}) {
                const call_options o{.kind = kind,
                                     .chunk = kind == schedule::dynamic ? 7u : 0u,
                                     .retries = retries,
                                     .show_progress = progress::never};
                const tally t = run_calls(pool, &killer, 100, 2000, o, label_of(workers, o));
                std::printf(
                    "%s: %d calls, %d returned (%d indices re-run), %d threw, %d saw "
                    "deaths\n",
                    label_of(workers, o).c_str(), t.calls, t.succeeded, t.reruns, t.threw,
                    t.with_deaths);
                calls += t.calls;
                deaths += t.with_deaths;
                if (retries > 0) {
                    EXPECT_GT(t.succeeded, t.threw)
                        << label_of(workers, o) << ": retries should let most calls succeed";
                }
            }
        }
        EXPECT_GT(killer.kills(), 0u) << workers << " workers: the killer killed nothing";
    }
    EXPECT_EQ(calls, 1200);
    EXPECT_GT(deaths, 100) << "too few calls saw a worker die: the test tests little";
}

// map() and imap() carry the same guarantee: their results are those of every index.
TEST(process_pool_faults, map_and_imap_results_survive_random_sigkills) {
    outside_killer killer(99, 2, 2000);
    process_pool pool(3);
    killer.watch(pool);
    const call_options o{.chunk = 5, .retries = 5, .show_progress = progress::never};
    int errors = 0;
    for (int k = 0; k < 100; ++k) {
        killer.call_starts();
        try {
            const auto out = pool.map(
                0, 3000,
                [](std::size_t i) {
                    for (int s = 0; s < 200; ++s) asm volatile("" ::: "memory");
                    return 3 * i + 1;
                },
                o);
            killer.call_ends();
            ASSERT_EQ(out.size(), 3000u);
            for (std::size_t i = 0; i < out.size(); ++i)
                ASSERT_EQ(out[i], 3 * i + 1) << "call " << k << ", index " << i;
        } catch (const worker_died_error&) {
            killer.call_ends();
            ++errors;  // possible if one call loses workers 6 rounds in a row
        }
    }
    EXPECT_LT(errors, 5);
    std::size_t i = 0;
    killer.call_starts();
    for (const std::size_t v : pool.imap(
             0, 20000, [](std::size_t j) { return j * j; }, 1000, o)) {
        ASSERT_EQ(v, i * i) << "imap result " << i;
        ++i;
    }
    killer.call_ends();
    EXPECT_EQ(i, 20000u);
    EXPECT_GT(killer.kills(), 0u);
}

// --- 2. deaths at chosen points of the ledger protocol --------------------------------------

void inject(process_pool& pool, fault_point at, std::int64_t countdown) {
    pool_internals::inject_fault(pool, at, countdown);
}

// One worker, chunks of 10: it dies at the 5th chunk (indices [40, 50)), at each point.
struct single_worker_case {
    fault_point at;
    bool chunk_was_taken;  // whether the ledger must count [40, 50) as taken by the dead worker
};

TEST(process_pool_faults, one_worker_dying_at_each_point_loses_exactly_what_it_held) {
    process_pool pool(1);
    const counters count(2000);
    const shared_array<std::uint32_t> hits = count.array;
    for (const single_worker_case c : {single_worker_case{fault_point::after_attempt, false},
                                       single_worker_case{fault_point::after_take, true},
                                       single_worker_case{fault_point::before_run, true}}) {
        for (schedule kind : {schedule::dynamic, schedule::static_}) {
            SCOPED_TRACE("fault point " + std::to_string(static_cast<int>(c.at)) +
                         (kind == schedule::dynamic ? ", dynamic" : ", static"));
            // Without retries: the error names [40, 2000); 40 was "running" only if taken.
            count.zero();
            inject(pool, c.at, 5);
            try {
                pool.for_each(0, 2000, hit_task{hits, 0},
                              {.kind = kind, .chunk = 10, .show_progress = progress::never});
                ADD_FAILURE() << "the worker did not die";
            } catch (const worker_died_error& e) {
                ASSERT_EQ(e.not_completed().size(), 1u) << e.what();
                EXPECT_EQ(e.not_completed()[0], (index_range{40, 2000})) << e.what();
                EXPECT_EQ(e.interrupted(), c.chunk_was_taken ? std::vector<std::size_t>{40}
                                                             : std::vector<std::size_t>{})
                    << e.what();
                EXPECT_EQ(e.signal(), SIGKILL);
                EXPECT_NE(std::string(e.what()).find("[40, 2000)"), std::string::npos) << e.what();
                for (std::size_t i = 0; i < 2000; ++i)
                    ASSERT_EQ(hits.data()[i], i < 40 ? 1u : 0u) << "index " << i;
            }
            // With retries: every index once; 40 re-run (it had not started, so still once).
            count.zero();
            inject(pool, c.at, 5);
            const call_result r = pool.for_each(
                0, 2000, hit_task{hits, 0},
                {.kind = kind, .chunk = 10, .retries = 1, .show_progress = progress::never});
            EXPECT_EQ(r.completed, 2000u);
            EXPECT_EQ(r.workers_died, 1u);
            EXPECT_EQ(r.rerun, c.chunk_was_taken ? std::vector<std::size_t>{40}
                                                 : std::vector<std::size_t>{});
            for (std::size_t i = 0; i < 2000; ++i) ASSERT_EQ(hits.data()[i], 1u) << "index " << i;
        }
    }
    inject(pool, fault_point::none, 0);
}

// Several workers, a death at each point after a random number of passes, alone or together
// with outside kills: the outcome is exact every time.
TEST(process_pool_faults, deaths_at_chosen_points_with_outside_kills_never_lose_an_index) {
    std::mt19937 rng(7);
    int calls = 0, with_deaths = 0;
    for (std::size_t workers : {2, 3}) {
        outside_killer killer(static_cast<std::uint32_t>(workers), 1, 3000);
        process_pool pool(workers);
        killer.watch(pool);
        for (fault_point at : {fault_point::after_attempt, fault_point::after_take,
                               fault_point::before_run, fault_point::after_confirm}) {
            for (schedule kind : {schedule::dynamic, schedule::static_}) {
                for (int retries : {0, 2}) {
                    const call_options o{.kind = kind,
                                         .chunk = 3,
                                         .retries = retries,
                                         .show_progress = progress::never};
                    for (int k = 0; k < 10; ++k) {
                        inject(pool, at, 1 + static_cast<std::int64_t>(rng() % 300));
                        const tally t = run_calls(pool, k % 2 ? &killer : nullptr, 1, 1000, o,
                                                  label_of(workers, o) + ", fault point " +
                                                      std::to_string(static_cast<int>(at)));
                        calls += t.calls;
                        with_deaths += t.with_deaths;
                    }
                    inject(pool, fault_point::none, 0);
                }
            }
        }
    }
    EXPECT_EQ(calls, 320);
    EXPECT_GT(with_deaths, 150) << "the fault points were rarely reached";
}

// --- 3. every worker dying, and the pool of one --------------------------------------------

TEST(process_pool_faults, every_worker_dying_in_one_call_is_retried_on_fresh_workers) {
    process_pool pool(3);
    const counters kill_flags(2000, "killflags"), count(2000);
    const shared_array<std::uint32_t> flags = kill_flags.array, hits = count.array;
    // Indices 10, 700 and 1400 each kill the worker that first runs them, after counting the
    // hit: one near the start of each worker's share.
    const auto task = [flags, hits](std::size_t i) {
        std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1);
        if ((i == 10 || i == 700 || i == 1400) &&
            std::atomic_ref<std::uint32_t>(flags.data()[i]).exchange(1) == 0)
            ::kill(::getpid(), SIGKILL);
        for (int s = 0; s < 2000; ++s) asm volatile("" ::: "memory");
    };
    const call_result r = pool.for_each(0, 2000, task, {.chunk = 5, .retries = 2});
    EXPECT_EQ(r.completed, 2000u);
    EXPECT_EQ(r.workers_died, 3u);
    EXPECT_EQ(r.rerun, (std::vector<std::size_t>{10, 700, 1400}));
    for (std::size_t i = 0; i < 2000; ++i) {
        const bool killer_index = i == 10 || i == 700 || i == 1400;
        ASSERT_EQ(hits.data()[i], killer_index ? 2u : 1u) << "index " << i;
    }
    EXPECT_EQ(pool.worker_pids().size(), 3u);
}

// The case of the issue: a pool of one, killed once at index 100, three retries.
TEST(process_pool_faults, a_pool_of_one_killed_mid_call_reruns_only_what_was_left) {
    process_pool pool(1);
    const counters count(10000);
    const shared_array<std::uint32_t> hits = count.array;
    const auto task = [hits](std::size_t i) {
        if (std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1) == 0 && i == 100)
            ::kill(::getpid(), SIGKILL);
    };
    const call_result r = pool.for_each(0, 10000, task, {.retries = 3});
    EXPECT_EQ(r.completed, 10000u);
    EXPECT_EQ(r.workers_died, 1u);
    EXPECT_EQ(r.rerun, std::vector<std::size_t>{100});
    for (std::size_t i = 0; i < 10000; ++i)
        ASSERT_EQ(hits.data()[i], i == 100 ? 2u : 1u) << "index " << i;
}

// --- 4. completed is exact ------------------------------------------------------------------

TEST(process_pool_faults, a_cancelled_call_counts_exactly_the_indices_that_ran) {
    process_pool pool(3);
    const counters count(100000);
    const shared_array<std::uint32_t> hits = count.array;
    for (int k = 0; k < 20; ++k) {
        count.zero();
        const std::size_t stop_at = 1000 + 4000 * static_cast<std::size_t>(k);
        const call_result r =
            pool.for_each(0, 100000,
                          [hits, stop_at](std::size_t i) {
                              std::atomic_ref<std::uint32_t>(hits.data()[i]).fetch_add(1);
                              if (i == stop_at) cancel_call();
                          },
                          {.chunk = 64});
        ASSERT_TRUE(r.cancelled);
        std::size_t ran = 0;
        for (std::size_t i = 0; i < 100000; ++i) {
            ASSERT_LE(hits.data()[i], 1u);
            ran += hits.data()[i];
        }
        EXPECT_EQ(r.completed, ran) << "call " << k;
    }
}

}  // namespace
}  // namespace shmpool
