#include "exit_cleanup.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <new>

#include "shmpool/detail/limits.hpp"

namespace shmpool::detail {
namespace {

constexpr std::size_t owned_per_block = 256;
constexpr std::size_t max_pools = 64;

struct owned_entry {
    std::atomic<pid_t> owner{0};  // 0: free; -1: being written
    char path[max_location_length + 64];
};

// The segments this process created, for the signal handler to unlink. Blocks of 256 entries
// in a list that only grows (a block is added, outside any handler, when every entry is taken;
// none is ever freed), so that the handler reads it without allocating or locking, however
// many segments the process owns.
struct owned_block {
    owned_entry entries[owned_per_block];
    owned_block* next = nullptr;
};
owned_block first_block;
std::atomic<owned_block*> last_block{&first_block};

template <class F>
void for_each_owned(F&& f) noexcept {
    for (owned_block* b = &first_block; b != nullptr;
         b = std::atomic_ref<owned_block*>(b->next).load(std::memory_order_acquire))
        for (owned_entry& e : b->entries)
            if (f(e)) return;
}

struct pool_entry {
    std::atomic<pid_t> zygote{0};
    std::atomic<pid_t> owner{0};  // the process that started the pool (a forked child must not
                                  // stop its parent's pools)
};
pool_entry pools[max_pools];

pid_t raw_getpid() noexcept { return static_cast<pid_t>(::syscall(SYS_getpid)); }

void on_termination(int sig) {
    const pid_t me = raw_getpid();
    for (pool_entry& p : pools)
        if (p.owner.load() == me && p.zygote.load() > 0)
            ::kill(p.zygote.load(), SIGKILL);  // its workers follow it (PR_SET_PDEATHSIG)
    for (pool_entry& p : pools)
        if (p.owner.load() == me && p.zygote.load() > 0) ::waitpid(p.zygote.load(), nullptr, 0);
    for_each_owned([me](owned_entry& e) {
        if (e.owner.load() == me) ::unlink(e.path);
        return false;
    });
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

// Takes a free entry for `path`; false when every entry of every block is taken.
bool take_entry(const std::string& path) noexcept {
    bool taken = false;
    for_each_owned([&](owned_entry& e) {
        pid_t expected = 0;
        if (!e.owner.compare_exchange_strong(expected, -1)) return false;
        std::memcpy(e.path, path.c_str(), path.size() + 1);
        e.owner.store(raw_getpid());
        return taken = true;
    });
    return taken;
}

void remember_owned_segment(const std::string& path) noexcept {
    if (path.size() >= sizeof first_block.entries[0].path) return;
    while (!take_entry(path)) {
        auto* block = new (std::nothrow) owned_block;
        if (!block) return;  // out of memory: this one is removed at exit, not on a signal
        owned_block* last = last_block.load();
        owned_block* none = nullptr;
        // Append it; if another thread appended one first, this one follows that one.
        while (!std::atomic_ref<owned_block*>(last->next).compare_exchange_strong(none, block)) {
            last = none;
            none = nullptr;
        }
        last_block.store(block);
    }
}

void forget_owned_segment(const std::string& path) noexcept {
    const pid_t me = raw_getpid();
    for_each_owned([&](owned_entry& e) {
        if (e.owner.load() != me || path != e.path) return false;
        e.owner.store(0);
        return true;
    });
}

void register_pool_zygote(pid_t zygote) noexcept {
    for (pool_entry& p : pools) {
        pid_t expected = 0;
        if (!p.zygote.compare_exchange_strong(expected, -1)) continue;
        p.owner.store(raw_getpid());
        p.zygote.store(zygote);
        return;
    }
}

void unregister_pool_zygote(pid_t zygote) noexcept {
    for (pool_entry& p : pools) {
        pid_t expected = zygote;
        if (p.zygote.compare_exchange_strong(expected, 0)) {
            p.owner.store(0);
            return;
        }
    }
}

void install_termination_handlers() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        install_for(SIGINT);
        install_for(SIGTERM);
        install_for(SIGABRT);  // abort(), and std::terminate (an uncaught exception)
    });
}

}  // namespace shmpool::detail
