// The book's first counter: processes add 1 to a number kept as text in a file, with no lock.
// Reads and writes interleave, so increments are lost and some reads see a half-written
// number. Expected to come out wrong; it exits 0 unless a process fails.
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "counter_common.hpp"

namespace {

// One unlocked read-modify-write of the file; false when the text read was not a number.
bool increment(const std::string& path) {
    char buf[32] = {};
    const int fd = ::open(path.c_str(), O_RDWR);
    if (fd < 0) return false;
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    char* end = nullptr;
    const long value = n > 0 ? std::strtol(buf, &end, 10) : 0;
    const bool parsed = n > 0 && end != buf;
    const std::string text = std::to_string(value + 1);
    (void)::ftruncate(fd, 0);
    (void)::pwrite(fd, text.data(), text.size(), 0);
    ::close(fd);
    return parsed;
}

}  // namespace

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "counter in a file, no lock (comes out wrong)");
    const std::string path = "/tmp/shmpool_counter_nolock_" + std::to_string(::getpid());
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("0", f);
    std::fclose(f);
    const double s = counter_demo::run_processes(o.procs, [&] {
        long bad = 0;
        for (long i = 0; i < o.count; ++i) bad += !increment(path);
        if (bad) std::printf("  process %d read %ld half-written values\n", ::getpid(), bad);
    });
    char buf[32] = {};
    f = std::fopen(path.c_str(), "r");
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::remove(path.c_str());
    return counter_demo::report("file counter without a lock", o, n ? std::atol(buf) : 0, s,
                                false);
}
