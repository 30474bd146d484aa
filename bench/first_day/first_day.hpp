// bench/first_day: what its files share. The program (main.cpp says what it measures) runs three
// figure families, one file each: the first pass of for_each_row (first_pass.cpp), a
// robust_mutex opened by name against one placed in place (lock_rates.cpp), and the time to
// open a named mutex (open_times.cpp). processes.cpp forks children, spawns copies of this
// program and starts them together at the gate of the control block; children.cpp holds what
// the spawned copies run (the hidden subcommands); names.cpp the names figure 3 creates;
// boost_side.cpp the Boost.Interprocess baseline (left out when built without Boost). This
// header holds the sections, the control block, the context of the phases and what each file
// offers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shmpool/event.hpp>
#include <shmpool/process_pool.hpp>
#include <shmpool/robust_mutex.hpp>
#include <shmpool/shared_array.hpp>
#include <string>
#include <utility>
#include <vector>

#include "bench_support.hpp"

// 1 when CMake found Boost.Interprocess (the baseline of figure 3), else 0.
#ifndef SHMPOOL_BENCH_BOOST
#define SHMPOOL_BENCH_BOOST 0
#endif

namespace first_day {

using namespace bench;
using bytes = shmpool::shared_array<std::uint8_t>;

// The sections of the report, in the order of their numbers.
inline const std::string pass_section =
    "1. first pass over a fresh array, created and filled by the parent (2 workers)";
inline const std::string lock_section =
    "2. robust_mutex lock+unlock: opened by name (spawned) vs placed in place (forked)";
inline const std::string open_section =
    "3. opening an existing named mutex (us per open; baseline Boost open_or_create; no target)";
constexpr int name_width = 60, base_width = 66;  // this program's figures have long names

constexpr int max_procs = 4;  // the contended lock runs: 4 processes
constexpr int batch = 64;     // lock+unlock pairs between two looks at the stop flag

// The four ways figure 3 opens an existing named mutex, in the order of control::open_us.
enum open_way : int { shm_open, shm_open_or_create, boost_open_or_create, boost_open_only };
constexpr int open_ways = 4;

// The control block, in a segment of its own: the gate that starts the processes of a lock run
// together and the counts they report, and the times the new process of figure 3 measured.
// Forked children use the parent's mapping; spawned copies open the segment by name.
struct alignas(64) control {
    std::atomic<int> ready{0};
    alignas(64) shmpool::event start;
    alignas(64) shmpool::event stop;
    struct alignas(64) slot {
        std::atomic<long> pairs{0};
    };
    slot done[max_procs];
    alignas(64) std::atomic<double> open_us[open_ways] = {};  // figure 3, by open_way
};

// Destroys `object` and constructs it again in place.
template <class T, class... Args>
T& renew(T& object, Args&&... args) {
    std::destroy_at(&object);
    return *std::construct_at(&object, std::forward<Args>(args)...);
}

// In a process of a lock run: waits at the gate, then locks and unlocks mutex() until the stop
// flag is raised, and reports its count in slot i. mutex() is called for each lock and unlock,
// as a program would use its handle.
template <class Mutex>
void contend(control& c, int i, Mutex mutex) {
    c.ready.fetch_add(1);
    c.start.wait();
    long n = 0;
    while (!c.stop.is_set()) {
        for (int k = 0; k < batch; ++k) {
            mutex().lock();
            mutex().unlock();
        }
        n += batch;
    }
    c.done[i].pairs.store(n);
}

// What every phase works with.
struct context {
    shmpool::process_pool& pool;  // 2 workers, made before anything else
    array_names& guard;           // the names of the segments the phases create
    control& ctl;
    std::string control_name;
    std::string self;  // this program, as posix_spawn runs it
    std::size_t rows;  // figure 1: a rows x cols uint8 array
    std::size_t cols;
    double gb;  // its size in GB (1e9 bytes)
    int rounds;
    bool quick;
    double lock_seconds;  // figure 2: seconds per rate
    int open_count;       // figure 3: objects a new process opens each way, each once
    int reopen_count;     // figure 3: opens of one object in this process
};

// ---- the phases: each measures its rounds and adds its figures (main.cpp prints them) ----

void run_first_pass(const context& ctx);  // first_pass.cpp, figure 1
void run_lock_rates(const context& ctx);  // lock_rates.cpp, figure 2
void run_open_times(const context& ctx);  // open_times.cpp, figure 3

// ---- processes.cpp -----------------------------------------------------------------------------

// (fork_child, shared with the other benchmarks: bench_support.hpp.)

// Starts this program again (ctx.self) with `args`: an unrelated process, not a fork.
pid_t spawn_self(const std::string& self, const std::vector<std::string>& args);

// Waits for `pids` (at most 60 s each, then killed); throws if one failed, naming `what`.
void reap_all(const std::vector<pid_t>& pids, const char* what);

// Lock+unlock pairs per second of `n` processes, each started by launch(i) to run contend(),
// let through the gate together and stopped after `seconds`.
double pairs_per_second(control& c, int n, double seconds, const std::function<pid_t(int)>& launch);

// In a spawned copy: dies with the parent `parent` (PR_SET_PDEATHSIG); exits if it is gone.
void die_with_parent(pid_t parent);

// ---- children.cpp: the hidden subcommands of the spawned copies --------------------------------

//   first_day --contend CONTROL MUTEX INDEX PARENT_PID
inline const std::string contend_command = "--contend";
//   first_day --open-first CONTROL NAMES_BASE COUNT ROTATION PARENT_PID
inline const std::string open_command = "--open-first";

// Runs the hidden subcommand argv[1] names and returns its exit status; -1 when argv[1] is none.
int run_hidden_command(int argc, char** argv);

// The control block in the segment `name`, opened in a spawned copy (kept mapped for life).
control& open_control(const std::string& name);

// ---- boost_side.cpp: Boost.Interprocess's named_mutex (the baseline of figure 3) ---------------

// Whether this program was built with Boost.Interprocess; when false, boost_mutexes throws.
extern const bool have_boost;

// Boost named mutexes held open by this process (each a POSIX named semaphore,
// /dev/shm/sem.NAME); the destructor closes them, remove() unlinks a name.
class boost_mutexes {
public:
    boost_mutexes();
    boost_mutexes(const boost_mutexes&) = delete;
    boost_mutexes& operator=(const boost_mutexes&) = delete;
    ~boost_mutexes();

    void create(const std::string& name);          // named_mutex(create_only, name)
    void open_only(const std::string& name);       // named_mutex(open_only, name)
    void open_or_create(const std::string& name);  // named_mutex(open_or_create, name)
    std::size_t size() const;
    void close_all();
    static void remove(const std::string& name);
    // Opens `name` (open_or_create, or open_only) and closes it at once.
    static void open_and_close(const std::string& name, bool or_create);

private:
    struct held;
    std::unique_ptr<held> held_;
};

// ---- names.cpp: the named mutexes of figure 3 --------------------------------------------------

// The names of figure 3's i-th shmpool object and i-th Boost named mutex.
std::string object_name(const std::string& base, int i);
std::string boost_name(const std::string& base, int i);

// Installs the SIGINT and SIGTERM handler that removes the Boost mutexes; call it after the
// first segment is created (shmpool installs its handlers then, and this one passes on to them).
void install_signal_cleanup();

// `count` shared_object<robust_mutex> and as many Boost named mutexes (POSIX semaphores,
// /dev/shm/sem.NAME; none when built without Boost), made by create() and held open; all
// removed by the destructor (also on an exception) and the Boost ones on SIGINT and SIGTERM
// (shmpool removes its own).
class named_mutexes {
public:
    named_mutexes(std::string base, int count);
    named_mutexes(const named_mutexes&) = delete;
    named_mutexes& operator=(const named_mutexes&) = delete;
    ~named_mutexes();

    void create();
    const std::string& base() const { return base_; }

private:
    std::string base_;
    int count_;
    int objects_ = 0;      // shmpool objects created so far
    boost_mutexes boost_;  // held open here: the "again" figures reuse the mapping
};

}  // namespace first_day
