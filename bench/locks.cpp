// shmpool's shared counters and locks against the baselines they are judged by, measured in the
// same run, interleaved round by round (median, min and max over the rounds, and the ratio to
// the baseline):
//
//   1. value counter   value<long> incremented under its own lock (with_lock) by 4 processes x
//                      1,000,000, against multiprocessing.Value('l') under get_lock() by 4 x
//                      100,000 (per increment); both also at the book's 4 x 1,000, where
//                      starting and joining the processes dominates; and raw_value<long> under
//                      a separate robust_mutex against RawValue('l') under a Lock;
//   2. fetch_add       raw_value<long>::fetch_add by 4 processes x 10,000,000, against
//                      std::atomic<long>::fetch_add by 4 threads of one (forked) process;
//   3. file counter    a number kept as text in a file under /tmp, opened, read and rewritten
//                      under file_lock by 4 processes x 1,000 (as demos/counter_file_lock.cpp
//                      does: 20 zero-padded digits rewritten in place), against the book's
//                      Python counter under fcntl.flock (file objects; the file truncated and
//                      rewritten, which on ext4 waits for the disk at close: the issue's
//                      baseline), and against Python with the demo's protocol and system calls;
//                      and the truncating protocol on both sides, for reference;
//   4. lock rates      lock+unlock pairs per second, uncontended and with 4 processes, of
//                      robust_mutex, shared_rwlock (exclusive, shared), semaphore and file_lock,
//                      against multiprocessing.Lock, multiprocessing.Semaphore and fcntl.flock.
//
// The Python figures come from bench/python_counters.py, run once a round with the python3 found at configure time (SHMPOOL_PYTHON)
// (fork start method). Counter times are wall times from the first fork to the last join, on
// both sides. Ratios read "times better than the baseline": value / baseline for rates,
// baseline / value for times, so > 1 always means shmpool is ahead.
//
// Everything it creates (segments in /dev/shm, files in /tmp) is removed at the end, also when
// it fails or is interrupted (SIGINT, SIGTERM). The benchmark process itself stays
// single-threaded: the threads of figure 2 run in a forked child.
//
//   locks [--rounds 5] [--quick] [--json FILE]
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <shmpool/shmpool.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef SHMPOOL_SOURCE_DIR
#error "bench/CMakeLists.txt defines SHMPOOL_SOURCE_DIR (where bench/python_counters.py lives)"
#endif

#include "bench_support.hpp"

namespace {

using namespace bench;
constexpr int procs = 4;  // the book's 4 processes, everywhere

// 1234567 -> "1,234,567"
std::string grouped(long long n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return (n < 0 ? "-" : "") + out;
}

constexpr int name_width = 56, base_width = 56;  // this program's figures have long names

// One row of the lock-throughput table (figure 4).
struct lock_row {
    std::string lock;
    const series* uncontended;
    const series* contended;
    std::string python;  // the Python equivalent, or empty
    const series* py_uncontended;
    const series* py_contended;
};

double median_of(const series* s) { return s ? summarize(s->values).median : no_value; }

void print_lock_table(const std::vector<lock_row>& rows) {
    std::printf("\n== lock+unlock pairs per second (medians; contended: %d processes together)\n",
                procs);
    std::printf("%-28s %14s %14s | %-27s %14s %14s\n", "lock", "uncontended", "contended",
                "Python equivalent", "uncontended", "contended");
    const auto cell = [](double x) { return std::isnan(x) ? std::string("-") : grouped(std::llround(x)); };
    for (const lock_row& r : rows)
        std::printf("%-28s %14s %14s | %-27s %14s %14s\n", r.lock.c_str(),
                    cell(median_of(r.uncontended)).c_str(), cell(median_of(r.contended)).c_str(),
                    r.python.empty() ? "(none)" : r.python.c_str(),
                    cell(median_of(r.py_uncontended)).c_str(),
                    cell(median_of(r.py_contended)).c_str());
}

void write_json(const std::string& path, const std::map<std::string, std::string>& config,
                const std::vector<lock_row>& table) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("cannot write " + path);
    write_json_head(out, "locks",
                    "times better than the baseline (value/baseline for rates, baseline/value "
                    "for times)",
                    config);
    write_json_figures(out);
    out << "  ],\n  \"lock_table\": {\"unit\": \"lock+unlock pairs per second (median)\", "
           "\"contended_processes\": "
        << procs << ", \"rows\": [\n";
    for (std::size_t i = 0; i < table.size(); ++i) {
        const lock_row& r = table[i];
        out << "    {\"lock\": " << json_string(r.lock)
            << ", \"uncontended\": " << json_number(median_of(r.uncontended))
            << ", \"contended\": " << json_number(median_of(r.contended))
            << ", \"python_equivalent\": " << (r.python.empty() ? "null" : json_string(r.python))
            << ", \"python_uncontended\": " << json_number(median_of(r.py_uncontended))
            << ", \"python_contended\": " << json_number(median_of(r.py_contended)) << "}"
            << (i + 1 < table.size() ? "," : "") << "\n";
    }
    out << "  ]}\n}\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

// ---------------------------------------------------------------------------------------------
// What this program creates: every segment and file is removed at the end, even on an
// exception. Only the process that made the list cleans up (never a forked child).

// SIGINT and SIGTERM: the files are unlinked here (by the process that made them), then the
// signal goes on to the handler that was there before (shmpool's, which removes the segments
// this process created and re-raises the signal with the default action).
namespace on_signal {
constexpr int max_files = 8;
char files[max_files][160];
std::atomic<int> count{0};
pid_t owner = 0;
struct sigaction previous[2];

void handler(int sig) {
    if (::getpid() == owner)
        for (int i = 0; i < count.load(); ++i) ::unlink(files[i]);
    ::sigaction(sig, &previous[sig == SIGINT ? 0 : 1], nullptr);
    ::raise(sig);  // delivered when this handler returns, to the previous one
}

// Call after the first segment is created (shmpool installs its handlers then).
void install() {
    owner = ::getpid();
    struct sigaction act{};
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    ::sigaction(SIGINT, &act, &previous[0]);
    ::sigaction(SIGTERM, &act, &previous[1]);
}

void add(const std::string& path) {
    const int i = count.load();
    if (i >= max_files || path.size() >= sizeof files[0]) return;
    std::memcpy(files[i], path.c_str(), path.size() + 1);
    count.store(i + 1);
}
}  // namespace on_signal

class cleanup {
public:
    cleanup() : prefix_("shmpool_bench_locks_" + std::to_string(::getpid()) + "_") {}
    cleanup(const cleanup&) = delete;
    cleanup& operator=(const cleanup&) = delete;

    // A fresh segment name (for value, raw_value or shared_array: all are removed alike).
    std::string segment(const std::string& tag) {
        std::string name = prefix_ + tag + "_" + std::to_string(counter_++);
        segments_.push_back(name);
        return name;
    }
    // A fresh path under /tmp.
    std::string file(const std::string& tag) {
        std::string path = "/tmp/" + prefix_ + tag + "_" + std::to_string(counter_++);
        files_.push_back(path);
        on_signal::add(path);
        return path;
    }
    void remove_segment(const std::string& name) noexcept {
        try {
            shmpool::shared_array<std::uint8_t>::remove(name);
        } catch (...) {
        }
        std::erase(segments_, name);
    }
    void remove_file(const std::string& path) noexcept {
        ::unlink(path.c_str());
        std::erase(files_, path);
    }
    // What is left under /dev/shm and /tmp with this run's prefix (should be nothing).
    std::vector<std::string> leftovers() const {
        std::vector<std::string> left;
        for (const char* dir : {"/dev/shm", "/tmp"}) {
            std::error_code ec;
            for (const auto& e : std::filesystem::directory_iterator(dir, ec))
                if (e.path().filename().string().starts_with(prefix_))
                    left.push_back(e.path().string());
        }
        return left;
    }
    ~cleanup() {
        if (::getpid() != owner_) return;
        for (const std::string& name : std::vector<std::string>(segments_)) remove_segment(name);
        for (const std::string& path : std::vector<std::string>(files_)) remove_file(path);
    }

private:
    pid_t owner_ = ::getpid();
    std::string prefix_;
    std::vector<std::string> segments_, files_;
    unsigned counter_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Processes

// Runs `work` in a forked child that ends with _exit (never returns into main, whose objects
// belong to the parent): status 0 if `work` returned, 1 if it threw. The child dies with the
// parent (a killed benchmark leaves no process waiting at a gate).
template <class Work>
pid_t fork_child(Work&& work) {
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        int rc = 0;
        try {
            work();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "locks: process %d: %s\n", ::getpid(), e.what());
            rc = 1;
        } catch (...) {
            rc = 1;
        }
        std::fflush(stderr);
        ::_exit(rc);
    }
    return pid;
}

// Waits for the given children; throws if one failed.
void join(const std::vector<pid_t>& pids, const char* what) {
    bool ok = true;
    for (pid_t pid : pids) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    if (!ok) throw std::runtime_error(std::string(what) + ": a process failed");
}

// Forks `procs` processes that each run work(i), joins them; returns the wall time, first fork
// to last join.
template <class Work>
double run_processes(const char* what, Work work) {
    std::vector<pid_t> pids;
    const auto start = clock_type::now();
    try {
        for (int i = 0; i < procs; ++i) pids.push_back(fork_child([&] { work(i); }));
    } catch (...) {
        for (pid_t pid : pids) ::kill(pid, SIGKILL);
        join(pids, what);
        throw;
    }
    join(pids, what);
    return seconds_since(start);
}

// ---------------------------------------------------------------------------------------------
// The shared area: the locks of figures 1 and 4 and the gate of the contended runs, in one
// segment (its data is page-aligned). Each object is constructed afresh before each run.

struct alignas(64) gate {
    std::atomic<int> ready{0};
    alignas(64) shmpool::event start;
    alignas(64) shmpool::event stop;
    struct alignas(64) slot {
        std::atomic<long> ops{0};
    };
    slot done[procs];
};

struct shared_area {
    alignas(64) shmpool::robust_mutex counter_mutex;  // figure 1: raw_value under a mutex
    alignas(64) shmpool::robust_mutex mutex;
    alignas(64) shmpool::shared_rwlock rwlock;
    alignas(64) shmpool::semaphore sem{1};
    alignas(64) gate g;
};

template <class T, class... Args>
T& renew(T& object, Args&&... args) {
    std::destroy_at(&object);
    return *std::construct_at(&object, std::forward<Args>(args)...);
}

// ---------------------------------------------------------------------------------------------
// Figure 3: the file counter of demos/counter_file_lock.cpp
//
// The protocol, the same as the demo's and as bench/python_counters.py's: the count is 20
// zero-padded digits at the start of the file, read with one pread and written over with one
// pwrite at offset 0, never truncated. Why: on ext4 (/tmp here), a file truncated to 0 and
// written again is flushed to disk when it is closed (auto_da_alloc), so a counter that
// truncates waits for the disk at every increment, on both sides, and the comparison measures
// the disk, not the locks. `truncating` is that former protocol (truncate to 0, then write as
// many digits as needed), kept as a reference row.

constexpr int count_width = 20;  // any long fits

long read_count(int fd, bool truncating) {
    char buf[32] = {};
    if (truncating) {
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        return n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    }
    if (::pread(fd, buf, count_width, 0) != count_width)
        throw std::runtime_error("the counter file is short");
    char* end = nullptr;
    const long value = std::strtol(buf, &end, 10);
    if (end != buf + count_width) throw std::runtime_error("the counter file holds no number");
    return value;
}

void write_count(int fd, long value, bool truncating) {
    char text[32];
    const int n = truncating ? std::snprintf(text, sizeof text, "%ld", value)
                             : std::snprintf(text, sizeof text, "%0*ld", count_width, value);
    const bool ok = (!truncating || ::ftruncate(fd, 0) == 0) && ::pwrite(fd, text, n, 0) == n;
    if (!ok) throw std::runtime_error(std::string("cannot write the counter file: ") +
                                      std::strerror(errno));
}

// A fresh counter file holding 0.
void start_count(const std::string& path, bool truncating) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    try {
        write_count(fd, 0, truncating);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

// One increment: open, read, write, close (the caller holds the lock, if any).
void increment_count(const std::string& path, bool truncating) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    try {
        write_count(fd, read_count(fd, truncating) + 1, truncating);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
}

long file_total(const std::string& path, bool truncating) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    try {
        const long n = read_count(fd, truncating);
        ::close(fd);
        return n;
    } catch (...) {
        ::close(fd);
        throw;
    }
}

// Seconds for `n` increments of the file counter (in place), in this process, without a lock:
// what the file operations cost by themselves.
double file_ops_alone(const std::string& path, long n) {
    start_count(path, false);
    const auto start = clock_type::now();
    for (long i = 0; i < n; ++i) increment_count(path, false);
    const double s = seconds_since(start);
    if (file_total(path, false) != n)
        throw std::runtime_error("file counter without a lock: wrong");
    return s;
}

// Seconds for `procs` x `count` increments of the file counter under file_lock.
double file_counter(const std::string& path, const std::string& lock_path, long count,
                    bool truncating) {
    start_count(path, truncating);
    const double s = run_processes("file counter", [&](int) {
        shmpool::file_lock lock(lock_path);  // one per process, made after the fork
        for (long i = 0; i < count; ++i) {
            std::lock_guard held(lock);
            increment_count(path, truncating);
        }
    });
    const long total = file_total(path, truncating);
    if (total != procs * count)
        throw std::runtime_error("file counter: expected " + std::to_string(procs * count) +
                                 ", got " + std::to_string(total));
    return s;
}

// ---------------------------------------------------------------------------------------------
// Figure 4: lock rates

constexpr int batch = 64;  // pairs between two looks at the clock or the stop flag

// Pairs per second of acquire+release in this process alone, for about `seconds`.
template <class Acquire, class Release>
double uncontended_rate(Acquire acquire, Release release, double seconds) {
    for (int i = 0; i < 1000; ++i) {  // warm-up
        acquire();
        release();
    }
    long n = 0;
    const auto start = clock_type::now();
    for (;;) {
        for (int i = 0; i < batch; ++i) {
            acquire();
            release();
        }
        n += batch;
        const double s = seconds_since(start);
        if (s >= seconds) return double(n) / s;
    }
}

// In a contender: pairs until the stop flag is raised.
template <class Acquire, class Release>
long contend(Acquire acquire, Release release, const shmpool::event& stop) {
    long n = 0;
    while (!stop.is_set()) {
        for (int i = 0; i < batch; ++i) {
            acquire();
            release();
        }
        n += batch;
    }
    return n;
}

// Pairs per second of `procs` processes together for about `seconds`: they start together at
// the gate, loop until it says stop, and report their counts. body(stop) runs in each process
// (after the fork: a file_lock is made there) and returns its count.
// Forks `procs` processes that wait at the gate and then run body(i); opens the gate once all
// of them wait. Returns their PIDs and the time the gate opened. If something fails before,
// lets them go (body sees the stop flag raised), joins them and throws.
template <class Body>
std::pair<std::vector<pid_t>, clock_type::time_point> start_at_gate(gate& g, Body body) {
    renew(g);
    std::vector<pid_t> pids;
    try {
        for (int i = 0; i < procs; ++i)
            pids.push_back(fork_child([&, i] {
                g.ready.fetch_add(1);
                g.start.wait();
                body(i);
            }));
        const auto waiting = clock_type::now();
        while (g.ready.load() < procs) {
            if (seconds_since(waiting) > 30) throw std::runtime_error("processes did not start");
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    } catch (...) {
        g.stop.set();
        g.start.set();
        try {
            join(pids, "gated run");
        } catch (...) {
        }
        throw;
    }
    const auto opened = clock_type::now();
    g.start.set();
    return {pids, opened};
}

long now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

// Runs work(i) in `procs` processes started together at the gate; returns the seconds from the
// gate's opening to the last one's end of work (fork and exit left out: CLOCK_MONOTONIC is one
// clock for all processes).
template <class Work>
double gated_processes(gate& g, Work work) {
    const auto [pids, opened] = start_at_gate(g, [&](int i) {
        work(i);
        g.done[i].ops.store(now_ns());
    });
    join(pids, "gated run");
    long last = 0;
    for (const auto& d : g.done) last = std::max(last, d.ops.load());
    return double(last - std::chrono::duration_cast<std::chrono::nanoseconds>(
                             opened.time_since_epoch())
                             .count()) /
           1e9;
}

// The same with `procs` threads of this process: they start together once all exist.
template <class Work>
double gated_threads(Work work) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<long> finished(procs);
    std::vector<std::thread> threads;
    for (int t = 0; t < procs; ++t)
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            go.wait(false);
            work(t);
            finished[t] = now_ns();
        });
    while (ready.load() < procs) std::this_thread::yield();
    const long opened = now_ns();
    go.store(true);
    go.notify_all();
    for (std::thread& t : threads) t.join();
    return double(*std::max_element(finished.begin(), finished.end()) - opened) / 1e9;
}

// Pairs per second of `procs` processes together for about `seconds`: they start together at
// the gate, loop until it says stop, and report their counts. body(stop) runs in each process
// (after the fork: a file_lock is made there) and returns its count.
template <class Body>
double contended_rate(gate& g, double seconds, Body body) {
    const auto [pids, opened] =
        start_at_gate(g, [&](int i) { g.done[i].ops.store(body(g.stop)); });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    g.stop.set();
    const double elapsed = seconds_since(opened);
    join(pids, "contended run");
    long total = 0;
    for (const auto& d : g.done) total += d.ops.load();
    return double(total) / elapsed;
}

// ---------------------------------------------------------------------------------------------
// The Python baseline

// The number after "key": at or after `from` in `text` (a flat reading of Python's JSON).
struct py_counter {
    double per_increment_ns = no_value, seconds = no_value, count = no_value;
};
struct py_rates {
    double uncontended = no_value, contended = no_value;
};
struct python_figures {
    py_counter value, value_book, rawvalue, file, file_truncate, file_book;
    py_rates lock, sem, flock;
    std::string version;
};

python_figures run_python(bool quick) {
    python_figures out;
    const std::string text = run_python_json(SHMPOOL_SOURCE_DIR "/bench/python_counters.py", quick);
    if (text.empty()) return out;
    const auto counter = [&](const char* key) {
        const std::size_t at = text.find(std::string("\"") + key + "\"");
        return py_counter{json_field(text, "per_increment_ns", at),
                          json_field(text, "seconds", at), json_field(text, "count", at)};
    };
    const auto rates = [&](const char* key) {
        const std::size_t at = text.find(std::string("\"") + key + "\"");
        return py_rates{json_field(text, "uncontended", at), json_field(text, "contended", at)};
    };
    out.value = counter("value");
    out.value_book = counter("value_book");
    out.rawvalue = counter("rawvalue");
    out.file = counter("file");
    out.file_truncate = counter("file_truncate");
    out.file_book = counter("file_book");
    out.lock = rates("multiprocessing.Lock");
    out.sem = rates("multiprocessing.Semaphore");
    out.flock = rates("fcntl.flock");
    if (const std::size_t v = text.find("\"python\": \""); v != std::string::npos)
        out.version = text.substr(v + 11, text.find('"', v + 11) - (v + 11));
    if (std::isnan(out.value.per_increment_ns) || std::isnan(out.flock.contended))
        std::fprintf(stderr, "warning: cannot parse the output of bench/python_counters.py: %s\n",
                     text.c_str());
    return out;
}

// ---------------------------------------------------------------------------------------------

using options = run_options;

options parse(int argc, char** argv) {
    options o;
    CLI::App app{
        "locks: shmpool's counters and locks against Python's multiprocessing, "
        "fcntl.flock and std::atomic threads"};
    add_run_options(app, o);
    parse_run_options(app, o, argc, argv);
    if (o.quick && !o.rounds_given) o.rounds = 2;
    return o;
}

std::string count_text(long procs_, double count) {
    return std::to_string(procs_) + " x " + grouped(std::llround(count));
}

}  // namespace

int main(int argc, char** argv) try {
    const options opt = parse(argc, argv);
    cleanup made;
    const auto started = clock_type::now();
    const int rounds = opt.rounds;

    // Sizes. Python's counters are 10x smaller (python_counters.py), compared per increment.
    const long value_count = opt.quick ? 200'000 : 1'000'000;
    const long book_count = 1'000;
    const long add_count = opt.quick ? 2'000'000 : 10'000'000;
    const long file_count = opt.quick ? 250 : 1'000;
    const double rate_alone = opt.quick ? 0.05 : 0.2;     // seconds per uncontended rate
    const double rate_together = opt.quick ? 0.1 : 0.4;  // seconds per contended rate

    const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    std::printf("shmpool locks benchmark: %d rounds, interleaved; %d processes (and threads) on "
                "%ld online CPUs%s\n",
                rounds, procs, cpus,
                cpus < procs ? " (oversubscribed: as much for processes as for threads)" : "");
    std::printf("ratio = times better than the baseline (value/baseline for rates, "
                "baseline/value for times)\n");
    std::fflush(stdout);

    // The shared area (locks and the gate of the contended runs).
    const std::string area_name = made.segment("area");
    auto area_memory = shmpool::shared_array<std::uint8_t>::create(area_name, {sizeof(shared_area)});
    if (reinterpret_cast<std::uintptr_t>(area_memory.data()) % alignof(shared_area) != 0)
        throw std::runtime_error("the shared area is not aligned");
    shared_area& area = *new (area_memory.data()) shared_area;
    on_signal::install();

    const std::string counter_path = made.file("counter");
    const std::string counter_lock_path = made.file("counter.lock");
    const std::string rates_lock_path = made.file("rates.lock");

    // ---- series ------------------------------------------------------------------------------
    series py_value{"", "ns/incr", false, {}}, cpp_value{"", "ns/incr", false, {}};
    series py_book{"", "us/incr", false, {}}, cpp_book{"", "us/incr", false, {}};
    series py_book_ms{"", "ms", false, {}}, cpp_book_ms{"", "ms", false, {}};
    series py_raw{"", "ns/incr", false, {}}, cpp_raw{"", "ns/incr", false, {}};
    series threads_add{"std::atomic<long>::fetch_add, " + count_text(procs, double(add_count)) +
                           " threads",
                       "ns/add", false, {}};
    series procs_add{"raw_value<long>::fetch_add, " + count_text(procs, double(add_count)) +
                         " processes",
                     "ns/add", false, {}};
    series procs_add_open{"  the same, handle opened in each process", "ns/add", false, {}};
    series py_file{"", "us/incr", false, {}}, cpp_file{"", "us/incr", false, {}};
    series py_file_tr{"", "us/incr", false, {}}, cpp_file_tr{"", "us/incr", false, {}};
    series py_file_book{"", "us/incr", false, {}}, cpp_file_same{"", "us/incr", false, {}};
    series file_alone{"", "us/incr", false, {}};
    // Figure 4, in pairs per second.
    const auto rate_series = [](const std::string& name) {
        return series{name, "pairs/s", true, {}};
    };
    series mutex_1 = rate_series("robust_mutex, uncontended");
    series mutex_4 = rate_series("robust_mutex, 4 processes");
    series rw_ex_1 = rate_series("shared_rwlock exclusive, uncontended");
    series rw_ex_4 = rate_series("shared_rwlock exclusive, 4 processes");
    series rw_sh_1 = rate_series("shared_rwlock shared, uncontended");
    series rw_sh_4 = rate_series("shared_rwlock shared, 4 processes");
    series sem_1 = rate_series("semaphore(1) acquire/release, uncontended");
    series sem_4 = rate_series("semaphore(1) acquire/release, 4 processes");
    series file_1 = rate_series("file_lock, uncontended");
    series file_4 = rate_series("file_lock, 4 processes");
    series py_lock_1 = rate_series("Python multiprocessing.Lock, uncontended");
    series py_lock_4 = rate_series("Python multiprocessing.Lock, 4 processes");
    series py_sem_1 = rate_series("Python multiprocessing.Semaphore(1), uncontended");
    series py_sem_4 = rate_series("Python multiprocessing.Semaphore(1), 4 processes");
    series py_flock_1 = rate_series("Python fcntl.flock, uncontended");
    series py_flock_4 = rate_series("Python fcntl.flock, 4 processes");
    double py_count = no_value, py_book_count = no_value, py_file_count = no_value;
    std::string py_version;

    // ---- the rounds --------------------------------------------------------------------------
    for (int r = 0; r < rounds; ++r) {
        const auto round_start = clock_type::now();
        const std::vector<std::function<void()>> steps = {
            [&] {  // Python: all its figures in one run
                const python_figures py = run_python(opt.quick);
                py_value.values.push_back(py.value.per_increment_ns);
                py_book.values.push_back(py.value_book.per_increment_ns / 1e3);
                py_book_ms.values.push_back(py.value_book.seconds * 1e3);
                py_raw.values.push_back(py.rawvalue.per_increment_ns);
                py_file.values.push_back(py.file.per_increment_ns / 1e3);
                py_file_tr.values.push_back(py.file_truncate.per_increment_ns / 1e3);
                py_file_book.values.push_back(py.file_book.per_increment_ns / 1e3);
                py_lock_1.values.push_back(py.lock.uncontended);
                py_lock_4.values.push_back(py.lock.contended);
                py_sem_1.values.push_back(py.sem.uncontended);
                py_sem_4.values.push_back(py.sem.contended);
                py_flock_1.values.push_back(py.flock.uncontended);
                py_flock_4.values.push_back(py.flock.contended);
                if (!std::isnan(py.value.count)) py_count = py.value.count;
                if (!std::isnan(py.value_book.count)) py_book_count = py.value_book.count;
                if (!std::isnan(py.file.count)) py_file_count = py.file.count;
                if (!py.version.empty()) py_version = py.version;
            },
            [&] {  // 1. value<long> under its lock, at both sizes; raw_value under a mutex
                const auto value_run = [&](long count) {
                    const std::string name = made.segment("value");
                    auto v = shmpool::value<long>::create(name, 0);
                    const double s = run_processes("value counter", [&](int) {
                        for (long i = 0; i < count; ++i) v.with_lock([](long& x) { ++x; });
                    });
                    const long total = v.load();
                    made.remove_segment(name);
                    if (total != procs * count)
                        throw std::runtime_error("value counter: expected " +
                                                 std::to_string(procs * count) + ", got " +
                                                 std::to_string(total));
                    return s;
                };
                const double big = value_run(value_count);
                cpp_value.values.push_back(big / double(procs * value_count) * 1e9);
                const double book = value_run(book_count);
                cpp_book.values.push_back(book / double(procs * book_count) * 1e6);
                cpp_book_ms.values.push_back(book * 1e3);

                const std::string name = made.segment("raw");
                auto v = shmpool::raw_value<long>::create(name, 0);
                shmpool::robust_mutex& m = renew(area.counter_mutex);
                const double s = run_processes("raw_value counter", [&](int) {
                    for (long i = 0; i < value_count; ++i) {
                        std::lock_guard held(m);
                        *v.data() += 1;
                    }
                });
                const long total = v.load();
                made.remove_segment(name);
                if (total != procs * value_count)
                    throw std::runtime_error("raw_value counter: expected " +
                                             std::to_string(procs * value_count) + ", got " +
                                             std::to_string(total));
                cpp_raw.values.push_back(s / double(procs * value_count) * 1e9);
            },
            [&] {  // 2. fetch_add: processes (two ways), threads (in a forked child)
                const double n = double(procs) * double(add_count);
                const auto processes = [&](series& out, bool open_in_child) {
                    const std::string name = made.segment("add");
                    auto v = shmpool::raw_value<long>::create(name, 0);
                    const double s = open_in_child
                        ? gated_processes(area.g, [&](int) {
                              const auto mine = shmpool::raw_value<long>::open(name);
                              for (long i = 0; i < add_count; ++i) mine.fetch_add(1);
                          })
                        : gated_processes(area.g, [&](int) {
                              for (long i = 0; i < add_count; ++i) v.fetch_add(1);
                          });
                    const long total = v.load();
                    made.remove_segment(name);
                    if (total != procs * add_count)
                        throw std::runtime_error("fetch_add: processes lost adds");
                    out.values.push_back(s / n * 1e9);
                };
                processes(procs_add, false);
                processes(procs_add_open, true);
                // The threads run in a child, which writes their time in the gate's first slot.
                renew(area.g);
                const pid_t child = fork_child([&] {
                    struct alignas(64) counter {
                        std::atomic<long> a{0};
                    };
                    auto c = std::make_unique<counter>();
                    const double s = gated_threads([&](int) {
                        for (long i = 0; i < add_count; ++i) c->a.fetch_add(1);
                    });
                    if (c->a.load() != procs * add_count)
                        throw std::runtime_error("fetch_add: threads lost adds");
                    area.g.done[0].ops.store(std::llround(s * 1e9));
                });
                join({child}, "fetch_add threads");
                threads_add.values.push_back(double(area.g.done[0].ops.load()) / n);
            },
            [&] {  // 3. the file counter, as the demo does, and by the former protocol
                const double n = double(procs) * double(file_count);
                cpp_file.values.push_back(
                    file_counter(counter_path, counter_lock_path, file_count, false) / n * 1e6);
                cpp_file_tr.values.push_back(
                    file_counter(counter_path, counter_lock_path, file_count, true) / n * 1e6);
                file_alone.values.push_back(file_ops_alone(counter_path, procs * file_count) /
                                            n * 1e6);
            },
            [&] {  // 4. lock rates
                gate& g = area.g;
                {
                    shmpool::robust_mutex& m = renew(area.mutex);
                    mutex_1.values.push_back(uncontended_rate(
                        [&] { m.lock(); }, [&] { m.unlock(); }, rate_alone));
                    mutex_4.values.push_back(contended_rate(g, rate_together, [&](auto& stop) {
                        return contend([&] { m.lock(); }, [&] { m.unlock(); }, stop);
                    }));
                }
                {
                    shmpool::shared_rwlock& l = renew(area.rwlock);
                    rw_ex_1.values.push_back(uncontended_rate(
                        [&] { l.lock(); }, [&] { l.unlock(); }, rate_alone));
                    rw_ex_4.values.push_back(contended_rate(g, rate_together, [&](auto& stop) {
                        return contend([&] { l.lock(); }, [&] { l.unlock(); }, stop);
                    }));
                    rw_sh_1.values.push_back(uncontended_rate(
                        [&] { l.lock_shared(); }, [&] { l.unlock_shared(); }, rate_alone));
                    rw_sh_4.values.push_back(contended_rate(g, rate_together, [&](auto& stop) {
                        return contend([&] { l.lock_shared(); }, [&] { l.unlock_shared(); },
                                       stop);
                    }));
                }
                {
                    shmpool::semaphore& sem = renew(area.sem, 1u);
                    sem_1.values.push_back(uncontended_rate(
                        [&] { sem.acquire(); }, [&] { sem.release(); }, rate_alone));
                    sem_4.values.push_back(contended_rate(g, rate_together, [&](auto& stop) {
                        return contend([&] { sem.acquire(); }, [&] { sem.release(); }, stop);
                    }));
                }
                {
                    double alone = no_value;
                    {
                        shmpool::file_lock l(rates_lock_path);
                        alone = uncontended_rate([&] { l.lock(); }, [&] { l.unlock(); },
                                                 rate_alone);
                    }  // closed before the contenders fork
                    file_1.values.push_back(alone);
                    file_4.values.push_back(contended_rate(g, rate_together, [&](auto& stop) {
                        shmpool::file_lock l(rates_lock_path);  // one per process
                        return contend([&] { l.lock(); }, [&] { l.unlock(); }, stop);
                    }));
                }
            },
        };
        for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + r) % steps.size()]();
        std::printf("round %d/%d: %.1f s\n", r + 1, rounds, seconds_since(round_start));
        std::fflush(stdout);
    }

    // ---- names that carry the sizes ----------------------------------------------------------
    const std::string py_n = std::isnan(py_count) ? "?" : count_text(procs, py_count);
    const std::string py_book_n =
        std::isnan(py_book_count) ? "?" : count_text(procs, py_book_count);
    const std::string py_file_n =
        std::isnan(py_file_count) ? "?" : count_text(procs, py_file_count);
    py_value.name = "Python Value('l') + get_lock(), " + py_n;
    cpp_value.name = "value<long>::with_lock, " + count_text(procs, double(value_count));
    py_book.name = "Python Value('l') + get_lock(), " + py_book_n + " (book)";
    cpp_book.name = "value<long>::with_lock, " + count_text(procs, double(book_count)) + " (book)";
    py_book_ms.name = "  Python, " + py_book_n + ": total";
    cpp_book_ms.name = "  value<long>, " + count_text(procs, double(book_count)) + ": total";
    py_raw.name = "Python RawValue('l') + Lock, " + py_n;
    cpp_raw.name = "raw_value<long> + robust_mutex, " + count_text(procs, double(value_count));
    py_file_book.name = "Python: the book's counter under fcntl.flock, " + py_file_n;
    cpp_file.name = "file_lock counter (as the demo), " + count_text(procs, double(file_count));
    py_file.name = "  Python fcntl.flock, the demo's protocol and system calls, " + py_file_n;
    cpp_file_same.name = "  file_lock counter, against the line above";
    py_file_tr.name = "  former protocol (truncate): Python, " + py_file_n;
    cpp_file_tr.name = "  former protocol (truncate): file_lock, " +
                       count_text(procs, double(file_count));
    file_alone.name = "  file operations alone, 1 process x " + grouped(procs * file_count);

    // ---- report -------------------------------------------------------------------------------
    const std::string s1 = "1. counter under a lock, 4 processes (time per increment)";
    const std::string s2 = "2. fetch_add: 4 processes on raw_value vs 4 threads on std::atomic";
    const std::string s3 = "3. file counter under a lock on a lock file, 4 processes (/tmp)";
    const std::string s4 = "4. lock+unlock pairs per second";
    add_figure(s1, py_value);
    {
        figure& f = add_figure(s1, cpp_value, &py_value);
        set_target(f, ">= 10x", f.ratio, 10, true);
    }
    add_figure(s1, py_raw);
    add_figure(s1, cpp_raw, &py_raw);
    add_figure(s1, py_book);
    add_figure(s1, cpp_book, &py_book);
    add_figure(s1, py_book_ms);
    add_figure(s1, cpp_book_ms, &py_book_ms);
    add_figure(s2, threads_add);
    {
        figure& f = add_figure(s2, procs_add, &threads_add);
        set_target(f, ">= 0.5x (within 2x)", f.ratio, 0.5, true);
    }
    add_figure(s2, procs_add_open, &threads_add);
    add_figure(s3, py_file_book);
    {
        figure& f = add_figure(s3, cpp_file, &py_file_book);
        set_target(f, ">= 3x", f.ratio, 3, true);
    }
    add_figure(s3, py_file);
    cpp_file_same.values = cpp_file.values;
    add_figure(s3, cpp_file_same, &py_file);
    add_figure(s3, py_file_tr);
    add_figure(s3, cpp_file_tr, &py_file_tr);
    add_figure(s3, file_alone);
    for (const series* s : {&py_lock_1, &py_lock_4, &py_sem_1, &py_sem_4, &py_flock_1, &py_flock_4})
        add_figure(s4, *s);
    add_figure(s4, mutex_1, &py_lock_1);
    add_figure(s4, mutex_4, &py_lock_4);
    add_figure(s4, rw_ex_1);
    add_figure(s4, rw_ex_4);
    add_figure(s4, rw_sh_1);
    add_figure(s4, rw_sh_4);
    add_figure(s4, sem_1, &py_sem_1);
    add_figure(s4, sem_4, &py_sem_4);
    add_figure(s4, file_1, &py_flock_1);
    add_figure(s4, file_4, &py_flock_4);
    const std::vector<lock_row> table = {
        {"robust_mutex", &mutex_1, &mutex_4, "multiprocessing.Lock", &py_lock_1, &py_lock_4},
        {"shared_rwlock (exclusive)", &rw_ex_1, &rw_ex_4, "", nullptr, nullptr},
        {"shared_rwlock (shared)", &rw_sh_1, &rw_sh_4, "", nullptr, nullptr},
        {"semaphore acquire/release", &sem_1, &sem_4, "multiprocessing.Semaphore", &py_sem_1,
         &py_sem_4},
        {"file_lock", &file_1, &file_4, "fcntl.flock", &py_flock_1, &py_flock_4},
    };

    print_section(s1, name_width, base_width);
    std::printf("(C++ counts %s increments, Python %s: Python's are %gx fewer, to keep a round "
                "short; compared per increment, first fork to last join on both sides, which "
                "is under 1%% of the time at these sizes but most of it at the book's 4 x 1,000)\n",
                count_text(procs, double(value_count)).c_str(), py_n.c_str(),
                std::isnan(py_count) ? 0.0 : double(value_count) / py_count);
    print_section(s2, name_width, base_width);
    std::printf("(%ld online CPUs: %d processes and %d threads oversubscribe them alike; ratio = "
                "threads' time / processes' time, each from a common start to the last one's end "
                "(fork, thread creation and exit left out); the threads run in a forked child. "
                "A handle copied across fork() looks its segment up once, at its first use in the "
                "child (segment_handle::get refreshes its cache in place), like one opened in "
                "the child)\n",
                cpus, procs, procs);
    print_section(s3, name_width, base_width);
    std::printf(
        "(the demo: open, pread, pwrite, close under the lock, the count being 20 "
        "zero-padded digits rewritten in place. The book's Python opens the file, reads, "
        "opens it again for writing, which truncates it, and writes: on ext4 a file "
        "truncated to 0 and rewritten is flushed to disk at close (auto_da_alloc), so it "
        "waits for the disk; most of the ratio is that protocol, the lines below it "
        "compare like with like: Python with the demo's system calls, and both sides "
        "truncating. 'alone': the file operations without a lock in one process, the "
        "floor of a counter whose increments are serialised)\n");
    print_section(s4, name_width, base_width);
    print_lock_table(table);

    std::printf("\ntargets:\n");
    for (const figure& f : figures) {
        if (f.target.empty()) continue;
        std::printf("  %-56s ratio %-8s target %-20s %s\n", f.s.name.c_str(),
                    ratio_text(f.ratio).c_str(), f.target.c_str(),
                    f.met < 0 ? "n/a" : f.met ? "met" : "MISSED");
    }

    // ---- clean up, and check ----------------------------------------------------------------------
    std::destroy_at(&area);
    made.remove_segment(area_name);
    for (const std::string& path : {counter_path, counter_lock_path, rates_lock_path})
        made.remove_file(path);
    const auto left = made.leftovers();
    for (const std::string& path : left) std::fprintf(stderr, "warning: left behind: %s\n", path.c_str());

    const double total = seconds_since(started);
    std::printf("\ntotal %.1f s%s\n", total, left.empty() ? "; nothing left in /dev/shm or /tmp" : "");
    if (!opt.json.empty()) {
        write_json(opt.json,
                   {{"rounds", std::to_string(rounds)},
                    {"quick", opt.quick ? "true" : "false"},
                    {"processes", std::to_string(procs)},
                    {"online_cpus", std::to_string(cpus)},
                    {"value_count", std::to_string(value_count)},
                    {"python_value_count", json_number(py_count)},
                    {"book_count", std::to_string(book_count)},
                    {"fetch_add_count", std::to_string(add_count)},
                    {"file_count", std::to_string(file_count)},
                    {"rate_seconds_uncontended", json_number(rate_alone)},
                    {"rate_seconds_contended", json_number(rate_together)},
                    {"python", json_string(py_version)},
                    {"seconds", json_number(total)}},
                   table);
        std::printf("wrote %s\n", opt.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "locks: %s\n", e.what());
    return 1;
}
