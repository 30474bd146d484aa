// The book's first counter: processes add 1 to a number kept as text in a file, with no lock.
// Reads and writes interleave, so increments are lost and some reads see a half-written
// number. Expected to come out wrong; it exits 0 unless a process fails.
//
// The file holds the count as 20 zero-padded digits rewritten in place, as in
// counter_file_lock.cpp (which says why: no truncation, so ext4 does not flush the file to disk
// at each close). To keep the half-written state the book's truncate-and-write shows, a write
// here takes two pwrite calls: blanks over the number, then the new digits. A process that
// reads in between finds no number.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "counter_common.hpp"

namespace {

constexpr int width = 20;  // digits in the file

// The number in the file, or -1 when it holds none (blanks: a write half done).
long parse_count(const char* text, ssize_t n) {
    if (n != width) return -1;
    char buf[width + 1] = {};
    for (int i = 0; i < width; ++i) {
        if (text[i] < '0' || text[i] > '9') return -1;
        buf[i] = text[i];
    }
    return std::strtol(buf, nullptr, 10);
}

// One unlocked read-modify-write of the file; false when the text read was not a number.
bool increment(const std::string& path) {
    char buf[width] = {};
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    const long value = parse_count(buf, ::pread(fd, buf, width, 0));
    char text[width + 1];
    std::snprintf(text, sizeof text, "%0*ld", width, (value < 0 ? 0 : value) + 1);
    const char blanks[width + 1] = "                    ";
    (void)::pwrite(fd, blanks, width, 0);  // the first half of the write: no number now
    (void)::pwrite(fd, text, width, 0);
    ::close(fd);
    return value >= 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto o = counter_demo::parse(argc, argv, "counter in a file, no lock (comes out wrong)");
    const std::string path = "/tmp/shmpool_counter_nolock_" + std::to_string(::getpid());
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fprintf(f, "%0*d", width, 0);
    std::fclose(f);
    const double s = counter_demo::run_processes(o.procs, [&] {
        long bad = 0;
        for (long i = 0; i < o.count; ++i) bad += !increment(path);
        if (bad) std::printf("  process %d read %ld half-written values\n", ::getpid(), bad);
        std::fflush(stdout);  // the process leaves with _exit, which flushes nothing
    });
    char buf[width] = {};
    f = std::fopen(path.c_str(), "r");
    const std::size_t n = std::fread(buf, 1, width, f);
    std::fclose(f);
    std::remove(path.c_str());
    return counter_demo::report("file counter without a lock", o,
                                parse_count(buf, static_cast<ssize_t>(n)), s, false);
}
