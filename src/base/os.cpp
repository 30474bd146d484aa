#include "os.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "shmpool/error.hpp"

namespace shmpool::detail {
namespace {

template <class F>
auto retry_eintr(F call) {
    decltype(call()) r;
    do {
        r = call();
    } while (r == -1 && errno == EINTR);
    return r;
}

}  // namespace

file_descriptor& file_descriptor::operator=(file_descriptor&& o) noexcept {
    if (this != &o) {
        file_descriptor old(fd_);
        fd_ = o.release();
    }
    return *this;
}

file_descriptor::~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);  // never retried: on Linux the descriptor is gone after EINTR
}

int file_descriptor::release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
}

mapped_region::mapped_region(mapped_region&& o) noexcept : addr_(o.addr_), length_(o.length_) {
    o.addr_ = nullptr;
    o.length_ = 0;
}

mapped_region& mapped_region::operator=(mapped_region&& o) noexcept {
    if (this != &o) {
        reset();
        addr_ = o.addr_;
        length_ = o.length_;
        o.addr_ = nullptr;
        o.length_ = 0;
    }
    return *this;
}

mapped_region::~mapped_region() { reset(); }

void mapped_region::reset() noexcept {
    if (addr_) ::munmap(addr_, length_);
    addr_ = nullptr;
    length_ = 0;
}

void throw_errno(int err, const std::string& what) {
    std::error_code code(err, std::generic_category());
    if (err == ENOENT) throw not_found_error(what + ": " + code.message());
    throw system_error(code, what);
}

file_descriptor try_open_file(const std::string& path, int flags, mode_t mode, int& err) noexcept {
    int fd = retry_eintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
    err = fd < 0 ? errno : 0;
    return file_descriptor(fd);
}

file_descriptor open_file(const std::string& path, int flags, mode_t mode) {
    int err = 0;
    file_descriptor fd = try_open_file(path, flags, mode, err);
    if (!fd) throw_errno(err, "cannot open " + path);
    return fd;
}

file_descriptor open_unnamed_file(const std::string& dir, mode_t mode) {
    int err = 0;
    file_descriptor fd = try_open_file(dir, O_TMPFILE | O_RDWR, mode, err);
    if (fd || err == EOPNOTSUPP || err == EISDIR || err == EINVAL) return fd;
    throw_errno(err, "cannot create a file in " + dir);
}

struct stat stat_fd(int fd, const std::string& path) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) throw_errno(errno, "cannot stat " + path);
    return st;
}

bool lstat_path(const std::string& path, struct stat& st) {
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_errno(errno, "cannot stat " + path);
}

void set_mode(int fd, mode_t mode, const std::string& path) {
    if (retry_eintr([&] { return ::fchmod(fd, mode); }) != 0)
        throw_errno(errno, "cannot set the permissions of " + path);
}

void truncate_fd(int fd, std::size_t length, const std::string& path) {
    if (retry_eintr([&] { return ::ftruncate(fd, static_cast<off_t>(length)); }) != 0)
        throw_errno(errno, "cannot set the size of " + path);
}

bool on_tmpfs(int fd) noexcept {
    struct statfs fs {};
    return retry_eintr([&] { return ::fstatfs(fd, &fs); }) == 0 && fs.f_type == TMPFS_MAGIC;
}

int reserve_fd(int fd, std::size_t offset, std::size_t length) noexcept {
    int r;
    do {
        r = ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(length));
    } while (r == EINTR);
    return r;
}

std::size_t read_at(int fd, void* buffer, std::size_t length, std::size_t offset,
                    const std::string& path) {
    std::size_t done = 0;
    while (done < length) {
        ssize_t n = retry_eintr([&] {
            return ::pread(fd, static_cast<char*>(buffer) + done, length - done,
                           static_cast<off_t>(offset + done));
        });
        if (n < 0) throw_errno(errno, "cannot read " + path);
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

int link_fd(int fd, const std::string& path) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
    if (errno == EEXIST) return EEXIST;
    throw_errno(errno, "cannot create " + path);
}

int rename_path(const std::string& from, const std::string& to, bool replace) noexcept {
    const unsigned flags = replace ? 0 : RENAME_NOREPLACE;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) == 0) return 0;
    return errno;
}

int unlink_path(const std::string& path) noexcept {
    return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

int lock_file(int fd, file_lock_op op) noexcept {
    const int how = op == file_lock_op::unlock          ? LOCK_UN
                    : op == file_lock_op::lock_exclusive ? LOCK_EX
                                                         : LOCK_EX | LOCK_NB;
    if (retry_eintr([&] { return ::flock(fd, how); }) == 0) return 0;
    return errno == EWOULDBLOCK ? EAGAIN : errno;
}

std::size_t free_bytes(const std::string& dir) {
    struct statvfs vfs{};
    if (retry_eintr([&] { return ::statvfs(dir.c_str(), &vfs); }) != 0)
        throw_errno(errno, "cannot read the free space of " + dir);
    return static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
}

std::size_t available_memory_bytes() noexcept {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::size_t kb = 0, total = 0;
    std::string unit;
    while (in >> key >> kb) {
        std::getline(in, unit);
        if (key == "MemAvailable:" || key == "SwapFree:") total += kb;
    }
    return total * 1024;
}

mapped_region map_fd(int fd, std::size_t length, const std::string& path) {
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) throw_errno(errno, "cannot map " + path);
    return mapped_region(addr, length);
}

namespace {

constexpr std::size_t populate_step = std::size_t{64} << 20;  // between two progress reports

// Populates [addr, addr + length) step by step, adding each step to `done` and, in the
// calling thread (`report` set), reporting the total so far. Stops early once another slice
// failed (`failed`): the file system is full, no use taking more of it.
int populate_slice(char* addr, std::size_t length, std::atomic<std::size_t>& done,
                   std::atomic<bool>& failed,
                   const std::function<void(std::size_t)>* report) noexcept {
    for (std::size_t at = 0; at < length && !failed.load(std::memory_order_relaxed);
         at += populate_step) {
        const std::size_t n = std::min(populate_step, length - at);
        // MAP_POPULATE would map a shared file's pages read-only, and the first writes would
        // fault all the same; MADV_POPULATE_WRITE maps them writable. EINTR: a fatal signal.
        if (retry_eintr([&] { return ::madvise(addr + at, n, MADV_POPULATE_WRITE); }) != 0) {
            failed.store(true, std::memory_order_relaxed);
            return errno;
        }
        const std::size_t total = done.fetch_add(n, std::memory_order_relaxed) + n;
        if (report && *report) (*report)(total);
    }
    return 0;
}

}  // namespace

int populate_writable(void* addr, std::size_t length,
                      const std::function<void(std::size_t)>& on_progress) noexcept {
    constexpr std::size_t align = std::size_t{2} << 20;
    const std::size_t threads =
        std::max<std::size_t>(1, std::min({usable_cpus(), std::size_t{8}, length / populate_step}));
    const std::size_t slice = (length / threads + align - 1) / align * align;
    std::vector<int> errors(threads, 0);
    std::atomic<std::size_t> done{0}, finished{0};
    std::atomic<bool> failed{false};
    std::vector<std::thread> helpers;
    const auto run = [&, addr](std::size_t i) {
        const std::size_t begin = std::min(i * slice, length);
        errors[i] =
            populate_slice(static_cast<char*>(addr) + begin, std::min(slice, length - begin), done,
                           failed, i == 0 ? &on_progress : nullptr);
        finished.fetch_add(1, std::memory_order_release);
    };
    for (std::size_t i = 1; i < threads; ++i) {
        try {
            helpers.emplace_back(run, i);
        } catch (...) {  // no thread to be had: do it here
            run(i);
        }
    }
    run(0);
    // This thread's slice is done: report the others' progress until they finish too.
    while (on_progress && finished.load(std::memory_order_acquire) < threads) {
        on_progress(done.load(std::memory_order_relaxed));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (std::thread& t : helpers) t.join();
    if (on_progress) on_progress(done.load());
    for (int e : errors)
        if (e != 0) return e;
    return 0;
}

std::size_t threads_of_this_process() noexcept {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

std::size_t usable_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return static_cast<std::size_t>(std::max(1, CPU_COUNT(&set)));
}

const std::string& shm_directory() {
    static const std::string dir = [] {
        const char* env = std::getenv("SHMPOOL_SHM_DIR");
        return std::string(env && *env ? env : "/dev/shm");
    }();
    return dir;
}

namespace {
std::atomic<pid_t> cached_pid{0};
void refresh_pid_after_fork() { cached_pid.store(::getpid(), std::memory_order_relaxed); }
}  // namespace

pid_t current_pid() noexcept {
    pid_t pid = cached_pid.load(std::memory_order_relaxed);
    if (pid != 0) return pid;
    static std::once_flag registered;
    std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, refresh_pid_after_fork); });
    pid = ::getpid();
    cached_pid.store(pid, std::memory_order_relaxed);
    return pid;
}

namespace {
constexpr unsigned long pf_exiting = 0x00000004;  // task flags (field 9 of /proc/PID/stat)
constexpr unsigned long pf_kthread = 0x00200000;
}  // namespace

bool process_stat::dead() const noexcept {
    return state == 'Z' || state == 'X' || state == 'x' || (flags & pf_exiting) != 0;
}

bool process_stat::kernel_thread() const noexcept { return (flags & pf_kthread) != 0; }

bool read_process_stat(pid_t pid, process_stat& out) noexcept {
    if (pid <= 0) return false;
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    const int fd = retry_eintr([&] { return ::open(path, O_RDONLY | O_CLOEXEC); });
    if (fd < 0) return false;
    char line[1024];
    const ssize_t n = retry_eintr([&] { return ::read(fd, line, sizeof line - 1); });
    ::close(fd);
    if (n <= 0) return false;
    line[n] = '\0';
    // The command name may hold spaces and parentheses: it ends at the last ')'.
    const char* open = std::strchr(line, '(');
    const char* close = std::strrchr(line, ')');
    if (!open || !close || close < open || close[1] != ' ') return false;
    out = process_stat{};
    const std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(close - open - 1),
                                                  sizeof out.comm - 1);
    std::memcpy(out.comm, open + 1, len);
    const char* p = close + 2;
    for (int field = 3; field <= 22 && *p; ++field) {
        char* end = nullptr;
        if (field == 3) out.state = *p;
        if (field == 4) out.ppid = static_cast<pid_t>(std::strtol(p, &end, 10));
        if (field == 9) out.flags = std::strtoul(p, &end, 10);
        if (field == 22) out.start_time = std::strtoull(p, &end, 10);
        p = std::strchr(p, ' ');
        if (!p) break;
        ++p;
    }
    return out.state != '?';
}

std::uint64_t process_start_time(pid_t pid) noexcept {
    process_stat st;
    return read_process_stat(pid, st) ? st.start_time : 0;
}

bool process_alive(pid_t pid, std::uint64_t start_time, std::uint64_t start_mask) noexcept {
    if (pid <= 0) return false;
    process_stat st;
    if (!read_process_stat(pid, st)) return ::kill(pid, 0) == 0 || errno == EPERM;
    if (st.dead()) return false;
    return start_time == 0 || (st.start_time & start_mask) == (start_time & start_mask);
}

}  // namespace shmpool::detail
