// bench/locks: what its files share. The program (main.cpp says what it measures) runs five
// steps each round, one per file: the Python baseline, the counters (figures 1 and 2), the file
// counter (figure 3) and the lock rates (figure 4); report.cpp turns their series into figures.
// This header holds the sizes of a run, the series of each figure family and the steps' context.
#pragma once

#include <string>
#include <vector>

#include "bench_support.hpp"

namespace locks {

using namespace bench;

constexpr int procs = 4;                         // the book's 4 processes, everywhere
constexpr int name_width = 56, base_width = 56;  // this program's figures have long names

/// How much each step does. Python's counters are 10x smaller (python_counters.py), compared
/// per increment.
struct sizes {
    long value_count;      // figure 1: increments per process
    long book_count;       // figure 1: the book's increments per process
    long add_count;        // figure 2: fetch_adds per process or thread
    long file_count;       // figure 3: increments per process
    double rate_alone;     // figure 4: seconds per uncontended rate
    double rate_together;  // figure 4: seconds per contended rate
};

sizes sizes_for(bool quick);

/// 1234567 -> "1,234,567"
std::string grouped(long long n);

/// "4 x 1,000,000"
std::string count_text(long processes, double count);

/// Figure 1: counters under a lock (names are given once Python's sizes are known).
struct counter_series {
    series py_value{"", "ns/incr", false, {}}, cpp_value{"", "ns/incr", false, {}};
    series py_book{"", "us/incr", false, {}}, cpp_book{"", "us/incr", false, {}};
    series py_book_ms{"", "ms", false, {}}, cpp_book_ms{"", "ms", false, {}};
    series py_raw{"", "ns/incr", false, {}}, cpp_raw{"", "ns/incr", false, {}};
};

/// Figure 2: fetch_add by processes and by threads.
struct fetch_add_series {
    series threads{"", "ns/add", false, {}};
    series processes{"", "ns/add", false, {}};
    series processes_open{"  the same, handle opened in each process", "ns/add", false, {}};
};

/// Figure 3: the file counter, in microseconds per increment.
struct file_series {
    series py_file{"", "us/incr", false, {}}, cpp_file{"", "us/incr", false, {}};
    series py_file_tr{"", "us/incr", false, {}}, cpp_file_tr{"", "us/incr", false, {}};
    series py_file_book{"", "us/incr", false, {}}, cpp_file_same{"", "us/incr", false, {}};
    series file_alone{"", "us/incr", false, {}};
};

inline series rate_series_named(const std::string& name) { return {name, "pairs/s", true, {}}; }

/// Figure 4: lock+unlock pairs per second.
struct rate_series {
    series mutex_1 = rate_series_named("robust_mutex, uncontended");
    series mutex_4 = rate_series_named("robust_mutex, 4 processes");
    series rw_ex_1 = rate_series_named("shared_rwlock exclusive, uncontended");
    series rw_ex_4 = rate_series_named("shared_rwlock exclusive, 4 processes");
    series rw_sh_1 = rate_series_named("shared_rwlock shared, uncontended");
    series rw_sh_4 = rate_series_named("shared_rwlock shared, 4 processes");
    series sem_1 = rate_series_named("semaphore(1) acquire/release, uncontended");
    series sem_4 = rate_series_named("semaphore(1) acquire/release, 4 processes");
    series file_1 = rate_series_named("file_lock, uncontended");
    series file_4 = rate_series_named("file_lock, 4 processes");
    series py_lock_1 = rate_series_named("Python multiprocessing.Lock, uncontended");
    series py_lock_4 = rate_series_named("Python multiprocessing.Lock, 4 processes");
    series py_sem_1 = rate_series_named("Python multiprocessing.Semaphore(1), uncontended");
    series py_sem_4 = rate_series_named("Python multiprocessing.Semaphore(1), 4 processes");
    series py_flock_1 = rate_series_named("Python fcntl.flock, uncontended");
    series py_flock_4 = rate_series_named("Python fcntl.flock, 4 processes");
};

/// What the Python baseline said about itself (its sizes and version), from its last run.
struct python_info {
    double value_count = no_value, book_count = no_value, file_count = no_value;
    std::string version;
};

/// Every series of the run.
struct all_series {
    counter_series counters;
    fetch_add_series adds;
    file_series files;
    rate_series rates;
    python_info python;
};

struct shared_area;  // processes.hpp
class cleanup;       // cleanup.hpp

/// What the steps of a round work with.
struct context {
    sizes n;
    bool quick;
    cleanup& made;
    shared_area& area;
    std::string counter_path, counter_lock_path, rates_lock_path;
};

// The steps of a round, run in an order that rotates from round to round.
void python_step(const context& ctx, all_series& s);           // python_baseline.cpp
void counter_step(const context& ctx, counter_series& s);      // counters.cpp (figure 1)
void fetch_add_step(const context& ctx, fetch_add_series& s);  // counters.cpp (figure 2)
void file_counter_step(const context& ctx, file_series& s);    // file_counter.cpp (figure 3)
void lock_rate_step(const context& ctx, rate_series& s);       // lock_rates.cpp (figure 4)

/// One row of the lock-throughput table (figure 4).
struct lock_row {
    std::string lock;
    const series* uncontended;
    const series* contended;
    std::string python;  // the Python equivalent, or empty
    const series* py_uncontended;
    const series* py_contended;
};

std::vector<lock_row> lock_table(const rate_series& s);    // lock_rates.cpp
void print_lock_table(const std::vector<lock_row>& rows);  // lock_rates.cpp
json lock_table_json(const std::vector<lock_row>& rows);   // lock_rates.cpp

/// Names the series whose names carry the sizes, adds every figure, prints the sections, the
/// lock table and the targets (report.cpp).
void report(all_series& s, const sizes& n, long cpus);

}  // namespace locks
