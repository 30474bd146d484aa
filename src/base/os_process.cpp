// The OS seam, processes: the cached PID, /proc/PID/stat and the process-alive rule, threads
// and CPUs, fork, signals, waiting for children.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "eintr.hpp"
#include "os.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {
namespace {
// reap_with_deadline polls: 100 us, doubling up to this.
constexpr auto pause_cap = std::chrono::microseconds(20'000);
}  // namespace

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

std::pair<std::uintptr_t, std::uintptr_t> thread_stack_range() noexcept {
    thread_local std::pair<std::uintptr_t, std::uintptr_t> range{0, 0};
    if (range.second != 0) return range;
    pthread_attr_t attr;
    if (::pthread_getattr_np(::pthread_self(), &attr) != 0) return range;
    void* low = nullptr;
    std::size_t size = 0;
    if (::pthread_attr_getstack(&attr, &low, &size) == 0)
        range = {reinterpret_cast<std::uintptr_t>(low), reinterpret_cast<std::uintptr_t>(low) + size};
    ::pthread_attr_destroy(&attr);
    return range;
}

pid_t current_tid() noexcept { return ::gettid(); }

void on_fork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept {
    ::pthread_atfork(prepare, parent, child);
}

pid_t fork_process(const std::string& what) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno(errno, "cannot fork " + what);
    return pid;
}

bool die_with_parent(pid_t parent) noexcept {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    return ::getppid() == parent;
}

int send_signal(pid_t pid, int sig) noexcept { return ::kill(pid, sig) == 0 ? 0 : errno; }

void set_signal_default(int sig) noexcept { ::signal(sig, SIG_DFL); }

void ignore_signal(int sig) noexcept { ::signal(sig, SIG_IGN); }

void unblock_all_signals() noexcept {
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

std::string signal_text(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    const char* text = ::strsignal(sig);
    return std::string("SIG") + (abbrev ? abbrev : std::to_string(sig).c_str()) + " (" +
           (text ? text : "unknown signal") + ")";
}

child_exits::child_exits() {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::pthread_sigmask(SIG_BLOCK, &chld, nullptr);
    fd_ = file_descriptor(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) throw_errno(errno, "cannot watch child processes (signalfd)");
}

void child_exits::drain() noexcept {
    signalfd_siginfo info;
    while (read_some(fd_.get(), &info, sizeof info) > 0) {
    }
}

int wait_readable(const int* fds, bool* ready, std::size_t count, int timeout_ms) noexcept {
    pollfd p[8];
    if (count > 8) return EINVAL;
    for (std::size_t i = 0; i < count; ++i) p[i] = {fds[i], POLLIN, 0};
    const int n = ::poll(p, count, timeout_ms);
    for (std::size_t i = 0; i < count; ++i)
        ready[i] = n > 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    return n < 0 && errno != EINTR ? errno : 0;
}

pid_t try_reap(pid_t pid, int& status) noexcept {
    return retry_eintr([&] { return ::waitpid(pid, &status, WNOHANG); });
}

void reap_all_children() noexcept {
    while (retry_eintr([] { return ::waitpid(-1, nullptr, 0); }) > 0) {
    }
}

int reap_with_deadline(pid_t pid, steady_time deadline, bool* killed) noexcept {
    if (killed) *killed = false;
    int status = 0;
    for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, pause_cap)) {
        const pid_t r = try_reap(pid, status);
        if (r == pid) return status;
        if (r < 0) return -1;
        if (deadline != no_deadline && std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(pause);
    }
    ::kill(pid, SIGKILL);
    if (killed) *killed = true;
    return retry_eintr([&] { return ::waitpid(pid, &status, 0); }) == pid ? status : -1;
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
    const std::size_t len =
        std::min<std::size_t>(static_cast<std::size_t>(close - open - 1), sizeof out.comm - 1);
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

const std::array<std::uint8_t, 16>& boot_id() noexcept {
    static const std::array<std::uint8_t, 16> id = [] {
        std::array<std::uint8_t, 16> out{};
        char text[64] = {};
        const int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return out;
        const ssize_t n = retry_eintr([&] { return ::read(fd, text, sizeof text - 1); });
        ::close(fd);
        std::size_t k = 0;  // "8-4-4-4-12" hex digits with dashes
        for (ssize_t i = 0; i < n && k < 32; ++i) {
            const char c = text[i];
            const int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (v < 0) continue;
            out[k / 2] = static_cast<std::uint8_t>(out[k / 2] | (k % 2 ? v : v << 4));
            ++k;
        }
        return k == 32 ? out : std::array<std::uint8_t, 16>{};
    }();
    return id;
}

bool process_alive(pid_t pid, std::uint64_t start_time, std::uint64_t start_mask) noexcept {
    if (pid <= 0) return false;
    process_stat st;
    if (!read_process_stat(pid, st)) return ::kill(pid, 0) == 0 || errno == EPERM;
    if (st.dead()) return false;
    return start_time == 0 || (st.start_time & start_mask) == (start_time & start_mask);
}

}  // namespace shmpool::detail
