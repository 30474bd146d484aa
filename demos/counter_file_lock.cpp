// The book's second counter: the same file counter, each read-modify-write under a
// shmpool::file_lock (an exclusive lock on a lock file, like Python's lockfile). Exact, and the
// slowest of the counters: every increment opens, reads and writes a file.
#include <fcntl.h>
#include <unistd.h>

#include <mutex>
#include <shmpool/file_lock.hpp>
#include <string>

#include "counter_common.hpp"

namespace {

long read_count(int fd) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? std::strtol(buf, nullptr, 10) : 0;
}

void write_count(int fd, long value) {
    const std::string text = std::to_string(value);
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0)
        throw std::runtime_error("cannot write the counter file");
}

}  // namespace

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "counter in a file under shmpool::file_lock");
    const std::string path = "/tmp/shmpool_counter_lock_" + std::to_string(::getpid());
    const std::string lock_path = path + ".lock";
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("0", f);
    std::fclose(f);
    const double s = counter_demo::run_processes(o.procs, [&] {
        shmpool::file_lock lock(lock_path);  // one per process, made after the fork
        for (long i = 0; i < o.count; ++i) {
            std::lock_guard held(lock);
            const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
            if (fd < 0) throw std::runtime_error("cannot open " + path);
            write_count(fd, read_count(fd) + 1);
            ::close(fd);
        }
    });
    const int fd = ::open(path.c_str(), O_RDONLY);
    const long total = read_count(fd);
    ::close(fd);
    std::remove(path.c_str());
    std::remove(lock_path.c_str());
    return counter_demo::report("file counter under shmpool::file_lock", o, total, s, true);
}
