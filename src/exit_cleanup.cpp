#include "exit_cleanup.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "shmpool/detail/segment.hpp"

namespace shmpool::detail {
namespace {

constexpr std::size_t max_owned = 256;
constexpr std::size_t max_pools = 64;

struct owned_entry {
    std::atomic<pid_t> owner{0};  // 0: free; -1: being written
    char path[max_location_length + 64];
};

owned_entry owned[max_owned];
std::atomic<pid_t> zygotes[max_pools];

pid_t raw_getpid() noexcept { return static_cast<pid_t>(::syscall(SYS_getpid)); }

void on_termination(int sig) {
    for (std::atomic<pid_t>& z : zygotes) {
        const pid_t pid = z.load();
        if (pid > 0) ::kill(pid, SIGKILL);  // its workers follow it (PR_SET_PDEATHSIG)
    }
    for (std::atomic<pid_t>& z : zygotes) {
        const pid_t pid = z.load();
        if (pid > 0) ::waitpid(pid, nullptr, 0);
    }
    const pid_t me = raw_getpid();
    for (owned_entry& e : owned)
        if (e.owner.load() == me) ::unlink(e.path);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

void install_for(int sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) != 0) return;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL) return;  // the program's own
    if (old.sa_flags & SA_SIGINFO) return;
    struct sigaction act {};
    act.sa_handler = on_termination;
    sigemptyset(&act.sa_mask);
    act.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &act, nullptr);
}

}  // namespace

void remember_owned_segment(const std::string& path) noexcept {
    if (path.size() >= sizeof owned[0].path) return;
    for (owned_entry& e : owned) {
        pid_t expected = 0;
        if (!e.owner.compare_exchange_strong(expected, -1)) continue;
        std::memcpy(e.path, path.c_str(), path.size() + 1);
        e.owner.store(raw_getpid());
        return;
    }
}

void forget_owned_segment(const std::string& path) noexcept {
    const pid_t me = raw_getpid();
    for (owned_entry& e : owned) {
        if (e.owner.load() != me || path != e.path) continue;
        e.owner.store(0);
        return;
    }
}

void register_pool_zygote(pid_t zygote) noexcept {
    for (std::atomic<pid_t>& z : zygotes) {
        pid_t expected = 0;
        if (z.compare_exchange_strong(expected, zygote)) return;
    }
}

void unregister_pool_zygote(pid_t zygote) noexcept {
    for (std::atomic<pid_t>& z : zygotes) {
        pid_t expected = zygote;
        if (z.compare_exchange_strong(expected, 0)) return;
    }
}

void install_termination_handlers() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        install_for(SIGINT);
        install_for(SIGTERM);
    });
}

}  // namespace shmpool::detail
