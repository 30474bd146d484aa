// bench/locks: the names of what this program creates, and their removal at the end or on
// SIGINT and SIGTERM (cleanup.hpp).
#include "cleanup.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <shmpool/shared_array.hpp>
#include <system_error>

namespace locks {

namespace on_signal {
namespace {
constexpr int max_files = 8;
char files[max_files][160];
std::atomic<int> count{0};
pid_t owner = 0;
struct sigaction previous[2];

void handler(int sig) {
    if (::getpid() == owner)
        for (int i = 0; i < count.load(); ++i) ::unlink(files[i]);
    ::sigaction(sig, &previous[sig == SIGINT ? 0 : 1], nullptr);
    ::raise(sig);  // delivered when this handler returns, to the previous one
}
}  // namespace

void install() {
    owner = ::getpid();
    struct sigaction act {};
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    ::sigaction(SIGINT, &act, &previous[0]);
    ::sigaction(SIGTERM, &act, &previous[1]);
}

void add(const std::string& path) {
    const int i = count.load();
    if (i >= max_files || path.size() >= sizeof files[0]) return;
    std::memcpy(files[i], path.c_str(), path.size() + 1);
    count.store(i + 1);
}
}  // namespace on_signal

cleanup::cleanup() : prefix_("shmpool_bench_locks_" + std::to_string(::getpid()) + "_") {}

cleanup::~cleanup() {
    if (::getpid() != owner_) return;
    for (const std::string& name : std::vector<std::string>(segments_)) remove_segment(name);
    for (const std::string& path : std::vector<std::string>(files_)) remove_file(path);
}

std::string cleanup::segment(const std::string& tag) {
    std::string name = prefix_ + tag + "_" + std::to_string(counter_++);
    segments_.push_back(name);
    return name;
}

std::string cleanup::file(const std::string& tag) {
    std::string path = "/tmp/" + prefix_ + tag + "_" + std::to_string(counter_++);
    files_.push_back(path);
    on_signal::add(path);
    return path;
}

void cleanup::remove_segment(const std::string& name) noexcept {
    try {
        shmpool::shared_array<std::uint8_t>::remove(name);
    } catch (...) {
    }
    std::erase(segments_, name);
}

void cleanup::remove_file(const std::string& path) noexcept {
    ::unlink(path.c_str());
    std::erase(files_, path);
}

std::vector<std::string> cleanup::leftovers() const {
    std::vector<std::string> left;
    for (const char* dir : {"/dev/shm", "/tmp"}) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec))
            if (e.path().filename().string().starts_with(prefix_))
                left.push_back(e.path().string());
    }
    return left;
}

}  // namespace locks
