// The OS seam, memory: mappings, populating them, the memory the system has left.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eintr.hpp"
#include "os.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

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

mapped_region map_fd(int fd, std::size_t length, const std::string& path) {
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) throw_errno(errno, "cannot map " + path);
    return mapped_region(addr, length);
}

std::size_t system_page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

std::optional<std::uint64_t> resident_pages(const mapped_region& region) noexcept {
    constexpr std::size_t window_pages = 1 << 16;
    static thread_local unsigned char vec[window_pages];
    const std::size_t window = window_pages * system_page_size();
    std::uint64_t count = 0;
    for (std::size_t off = 0; off < region.size(); off += window) {
        const std::size_t len = std::min(window, region.size() - off);
        if (::mincore(region.data() + off, len, vec) != 0) return std::nullopt;
        const std::size_t pages = (len + system_page_size() - 1) / system_page_size();
        for (std::size_t i = 0; i < pages; ++i) count += vec[i] & 1;
    }
    return count;
}

mapped_region map_fd_read_only(int fd, std::size_t length, const std::string& path) {
    void* addr = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) throw_errno(errno, "cannot map " + path + " read-only");
    return mapped_region(addr, length);
}

mapped_region try_map_fd_read_only(int fd, std::size_t length, int& err) noexcept {
    void* addr = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    if (addr != MAP_FAILED) return mapped_region(addr, length);
    err = errno;
    return {};
}

mapped_region map_shared_anonymous(std::size_t length, const std::string& what) {
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED) throw_errno(errno, "cannot map " + what);
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

}  // namespace shmpool::detail
