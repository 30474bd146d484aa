// The book's second counter: the same file counter, each read-modify-write under a
// shmpool::file_lock (an exclusive lock on a lock file, like Python's lockfile). Exact, and the
// slowest of the counters: every increment opens, reads and writes a file.
//
// The file holds the count as 20 zero-padded decimal digits (any long fits), rewritten in place:
// one pwrite at offset 0, never a truncation. Why: on ext4 (/tmp here), a file truncated to 0
// and written again is flushed to disk when it is closed (auto_da_alloc, a guard for programs
// that replace a file's contents without fsync), so a counter that truncates and rewrites waits
// for the disk on every increment and measures the disk rather than the lock. A fixed width
// means each new number covers the old one exactly. bench/locks/file_counter.cpp and
// bench/python_counters.py (the Python baseline) count with the same protocol.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <shmpool/file_lock.hpp>
#include <stdexcept>
#include <string>

#include "counter_common.hpp"

namespace {

constexpr int width = 20;  // digits in the file

long read_count(int fd) {
    char buf[width + 1] = {};
    if (::pread(fd, buf, width, 0) != width) throw std::runtime_error("short counter file");
    char* end = nullptr;
    const long value = std::strtol(buf, &end, 10);
    if (end != buf + width) throw std::runtime_error("the counter file holds no number");
    return value;
}

void write_count(int fd, long value) {
    char text[width + 1];
    std::snprintf(text, sizeof text, "%0*ld", width, value);
    if (::pwrite(fd, text, width, 0) != width)
        throw std::runtime_error("cannot write the counter file");
}

}  // namespace

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "counter in a file under shmpool::file_lock");
    const std::string path = "/tmp/shmpool_counter_lock_" + std::to_string(::getpid());
    const std::string lock_path = path + ".lock";
    const int made = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (made < 0) {
        std::perror(path.c_str());
        return 1;
    }
    write_count(made, 0);
    ::close(made);
    const double s = counter_demo::run_processes(o.procs, [&] {
        shmpool::file_lock lock(lock_path);  // one per process, made after the fork
        for (long i = 0; i < o.count; ++i) {
            std::lock_guard held(lock);
            const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
            if (fd < 0) throw std::runtime_error("cannot open " + path);
            try {
                write_count(fd, read_count(fd) + 1);
            } catch (...) {
                ::close(fd);
                throw;
            }
            ::close(fd);
        }
    });
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    long total = -1;
    try {
        total = read_count(fd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
    }
    ::close(fd);
    std::remove(path.c_str());
    std::remove(lock_path.c_str());
    return counter_demo::report("file counter under shmpool::file_lock", o, total, s, true);
}
