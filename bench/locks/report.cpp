// bench/locks: the report. Gives the series the names that carry the sizes, turns them into
// figures (bench_support.hpp) in four sections, and prints the sections, the lock table and the
// targets.
#include <cmath>
#include <cstdio>
#include <string>

#include "locks.hpp"

namespace locks {

std::string grouped(long long n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return (n < 0 ? "-" : "") + out;
}

std::string count_text(long processes, double count) {
    return std::to_string(processes) + " x " + grouped(std::llround(count));
}

namespace {

const std::string s1 = "1. counter under a lock, 4 processes (time per increment)";
const std::string s2 = "2. fetch_add: 4 processes on raw_value vs 4 threads on std::atomic";
const std::string s3 = "3. file counter under a lock on a lock file, 4 processes (/tmp)";
const std::string s4 = "4. lock+unlock pairs per second";

// "4 x 100,000", or "?" when Python did not say.
std::string python_count(double count) {
    return std::isnan(count) ? "?" : count_text(procs, count);
}

void name_series(all_series& s, const sizes& n) {
    const std::string py_n = python_count(s.python.value_count);
    const std::string py_book_n = python_count(s.python.book_count);
    const std::string py_file_n = python_count(s.python.file_count);
    counter_series& c = s.counters;
    c.py_value.name = "Python Value('l') + get_lock(), " + py_n;
    c.cpp_value.name = "value<long>::with_lock, " + count_text(procs, double(n.value_count));
    c.py_book.name = "Python Value('l') + get_lock(), " + py_book_n + " (book)";
    c.cpp_book.name =
        "value<long>::with_lock, " + count_text(procs, double(n.book_count)) + " (book)";
    c.py_book_ms.name = "  Python, " + py_book_n + ": total";
    c.cpp_book_ms.name = "  value<long>, " + count_text(procs, double(n.book_count)) + ": total";
    c.py_raw.name = "Python RawValue('l') + Lock, " + py_n;
    c.cpp_raw.name = "raw_value<long> + robust_mutex, " + count_text(procs, double(n.value_count));
    const std::string adds = count_text(procs, double(n.add_count));
    s.adds.threads.name = "std::atomic<long>::fetch_add, " + adds + " threads";
    s.adds.processes.name = "raw_value<long>::fetch_add, " + adds + " processes";
    file_series& f = s.files;
    const std::string files = count_text(procs, double(n.file_count));
    f.py_file_book.name = "Python: the book's counter under fcntl.flock, " + py_file_n;
    f.cpp_file.name = "file_lock counter (as the demo), " + files;
    f.py_file.name = "  Python fcntl.flock, the demo's protocol and system calls, " + py_file_n;
    f.cpp_file_same.name = "  file_lock counter, against the line above";
    f.py_file_tr.name = "  former protocol (truncate): Python, " + py_file_n;
    f.cpp_file_tr.name = "  former protocol (truncate): file_lock, " + files;
    f.file_alone.name = "  file operations alone, 1 process x " + grouped(procs * n.file_count);
}

void add_counter_figures(const counter_series& c, const fetch_add_series& a) {
    add_figure(s1, c.py_value);
    figure& value = add_figure(s1, c.cpp_value, &c.py_value);
    set_target(value, ">= 10x", value.ratio, 10, true);
    add_figure(s1, c.py_raw);
    add_figure(s1, c.cpp_raw, &c.py_raw);
    add_figure(s1, c.py_book);
    add_figure(s1, c.cpp_book, &c.py_book);
    add_figure(s1, c.py_book_ms);
    add_figure(s1, c.cpp_book_ms, &c.py_book_ms);
    add_figure(s2, a.threads);
    figure& adds = add_figure(s2, a.processes, &a.threads);
    set_target(adds, ">= 0.5x (within 2x)", adds.ratio, 0.5, true);
    add_figure(s2, a.processes_open, &a.threads);
}

void add_file_figures(file_series& f) {
    add_figure(s3, f.py_file_book);
    figure& file = add_figure(s3, f.cpp_file, &f.py_file_book);
    set_target(file, ">= 3x", file.ratio, 3, true);
    add_figure(s3, f.py_file);
    f.cpp_file_same.values = f.cpp_file.values;
    add_figure(s3, f.cpp_file_same, &f.py_file);
    add_figure(s3, f.py_file_tr);
    add_figure(s3, f.cpp_file_tr, &f.py_file_tr);
    add_figure(s3, f.file_alone);
}

void add_rate_figures(const rate_series& r) {
    for (const series* s :
         {&r.py_lock_1, &r.py_lock_4, &r.py_sem_1, &r.py_sem_4, &r.py_flock_1, &r.py_flock_4})
        add_figure(s4, *s);
    add_figure(s4, r.mutex_1, &r.py_lock_1);
    add_figure(s4, r.mutex_4, &r.py_lock_4);
    add_figure(s4, r.rw_ex_1);
    add_figure(s4, r.rw_ex_4);
    add_figure(s4, r.rw_sh_1);
    add_figure(s4, r.rw_sh_4);
    add_figure(s4, r.sem_1, &r.py_sem_1);
    add_figure(s4, r.sem_4, &r.py_sem_4);
    add_figure(s4, r.file_1, &r.py_flock_1);
    add_figure(s4, r.file_4, &r.py_flock_4);
}

void print_sections(const all_series& s, const sizes& n, long cpus) {
    const double py_count = s.python.value_count;
    print_section(s1, name_width, base_width);
    std::printf(
        "(C++ counts %s increments, Python %s: Python's are %gx fewer, to keep a round "
        "short; compared per increment, first fork to last join on both sides, which "
        "is under 1%% of the time at these sizes but most of it at the book's 4 x 1,000)\n",
        count_text(procs, double(n.value_count)).c_str(), python_count(py_count).c_str(),
        std::isnan(py_count) ? 0.0 : double(n.value_count) / py_count);
    print_section(s2, name_width, base_width);
    std::printf(
        "(%ld online CPUs: %d processes and %d threads oversubscribe them alike; ratio = "
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
}

void print_targets() {
    std::printf("\ntargets:\n");
    for (const figure& f : figures) {
        if (f.target.empty()) continue;
        std::printf("  %-56s ratio %-8s target %-20s %s\n", f.s.name.c_str(),
                    ratio_text(f.ratio).c_str(), f.target.c_str(),
                    f.met < 0 ? "n/a"
                    : f.met   ? "met"
                              : "MISSED");
    }
}

}  // namespace

void report(all_series& s, const sizes& n, long cpus) {
    name_series(s, n);
    add_counter_figures(s.counters, s.adds);
    add_file_figures(s.files);
    add_rate_figures(s.rates);
    print_sections(s, n, cpus);
    print_lock_table(lock_table(s.rates));
    print_targets();
}

}  // namespace locks
