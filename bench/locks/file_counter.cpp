// bench/locks, figure 3: the file counter of demos/counter_file_lock.cpp, a number kept as text
// in a file under /tmp, opened, read and rewritten under file_lock by 4 processes.
//
// The protocol, the same as the demo's and as bench/python_counters.py's: the count is 20
// zero-padded digits at the start of the file, read with one pread and written over with one
// pwrite at offset 0, never truncated. Why: on ext4 (/tmp here), a file truncated to 0 and
// written again is flushed to disk when it is closed (auto_da_alloc), so a counter that
// truncates waits for the disk at every increment, on both sides, and the comparison measures
// the disk, not the locks. `truncating` is that former protocol (truncate to 0, then write as
// many digits as needed), kept as a reference row.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shmpool/file_lock.hpp>
#include <stdexcept>
#include <string>

#include "locks.hpp"
#include "processes.hpp"

namespace locks {
namespace {

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
    if (!ok)
        throw std::runtime_error(std::string("cannot write the counter file: ") +
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

}  // namespace

void file_counter_step(const context& ctx, file_series& s) {
    const long count = ctx.n.file_count;
    const double n = double(procs) * double(count);
    const std::string& path = ctx.counter_path;
    s.cpp_file.values.push_back(file_counter(path, ctx.counter_lock_path, count, false) / n * 1e6);
    s.cpp_file_tr.values.push_back(file_counter(path, ctx.counter_lock_path, count, true) / n *
                                   1e6);
    s.file_alone.values.push_back(file_ops_alone(path, procs * count) / n * 1e6);
}

}  // namespace locks
