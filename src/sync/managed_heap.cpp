// shmpool::managed_heap: Boost's segment manager in a shmpool segment, behind robust locks.
#include "shmpool/managed_heap.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <new>

#include <boost/date_time/posix_time/posix_time_types.hpp>

#include "os.hpp"
#include "segment_format.hpp"

namespace shmpool {
namespace detail {

inline constexpr char heap_magic[8] = {'S', 'H', 'M', 'P', 'H', 'E', 'A', 'P'};
inline constexpr std::size_t heap_header_bytes = 4096;  // Boost's managed space starts here

struct heap_header {
    char magic[8];
    std::uint32_t version;
    std::uint32_t broken;  // atomic: 1 once a writer died holding a lock
    std::uint64_t managed_bytes;
    robust_mutex writers;
};
static_assert(sizeof(heap_header) <= heap_header_bytes);

namespace {

const char* const died_text =
    "a process died while it held a lock of a managed heap's allocator (what it was changing "
    "may be half done): the heap is refused; remove it and build it again";

segment_identity heap_identity() noexcept {
    segment_identity id;
    id.kind = segment_kind::heap;
    std::memcpy(id.type_name, "shmpool::managed_heap", sizeof "shmpool::managed_heap");
    return id;
}

// Checks the header of a heap being mapped (the view factory: nothing to build).
std::shared_ptr<void> make_heap_view(const mapped_segment& s) {
    const std::string who = "managed heap '" + std::string(s.where.text()) + "'";
    if (s.count < heap_header_bytes + 4096)
        throw format_error(who + ": too small for a heap (" + std::to_string(s.count) + " bytes)");
    const auto* h = reinterpret_cast<const heap_header*>(s.data);
    if (std::memcmp(h->magic, heap_magic, sizeof heap_magic) != 0 || h->version != 1 ||
        h->managed_bytes != s.count - heap_header_bytes)
        throw format_error(who + ": not a usable heap (bad header)");
    return std::make_shared<char>(0);
}

struct heap_init {
    std::size_t managed_bytes;
};

void construct_heap(std::byte* data, const void* arg) {
    const auto& init = *static_cast<const heap_init*>(arg);
    auto* h = new (data) heap_header{};
    std::memcpy(h->magic, heap_magic, sizeof heap_magic);
    h->version = 1;
    h->managed_bytes = init.managed_bytes;
    new (&h->writers) robust_mutex;
    new (data + heap_header_bytes) managed_heap::segment_manager(init.managed_bytes);
}

}  // namespace

// --- Boost's locks, robust ----------------------------------------------------------------

namespace {

// Takes `m` with `take`; an owner's death leaves it not recoverable (unlocked without
// mark_consistent(), in every process) and is heap_broken_error, then and ever after.
template <class Take>
bool take_robustly(robust_mutex& m, Take take) {
    try {
        return take();
    } catch (const owner_died_error&) {
        m.unlock();
        throw heap_broken_error(died_text);
    } catch (const not_recoverable_error&) {
        throw heap_broken_error(died_text);
    }
}

}  // namespace

void heap_mutex::lock() {
    take_robustly(m_, [&] {
        m_.lock();
        return true;
    });
}

bool heap_mutex::try_lock() {
    return take_robustly(m_, [&] { return m_.try_lock(); });
}

bool heap_mutex::timed_lock(const boost::posix_time::ptime& abs_time) {
    const boost::posix_time::ptime now = boost::posix_time::microsec_clock::universal_time();
    if (abs_time <= now) return try_lock();
    const auto wait = std::chrono::microseconds((abs_time - now).total_microseconds());
    return take_robustly(m_, [&] { return m_.try_lock_for(wait); });
}

void heap_mutex::unlock() noexcept { m_.unlock(); }

template <class Take>
bool heap_recursive_mutex::enter(Take take) {
    const int me = current_tid();
    if (std::atomic_ref<int>(owner_).load(std::memory_order_relaxed) == me) {
        ++count_;
        return true;
    }
    if (!take()) return false;
    std::atomic_ref<int>(owner_).store(me, std::memory_order_relaxed);
    count_ = 1;
    return true;
}

void heap_recursive_mutex::lock() {
    enter([&] {
        m_.lock();
        return true;
    });
}

bool heap_recursive_mutex::try_lock() {
    return enter([&] { return m_.try_lock(); });
}

bool heap_recursive_mutex::timed_lock(const boost::posix_time::ptime& abs_time) {
    return enter([&] { return m_.timed_lock(abs_time); });
}

void heap_recursive_mutex::unlock() noexcept {
    if (--count_ > 0) return;
    std::atomic_ref<int>(owner_).store(0, std::memory_order_relaxed);
    m_.unlock();
}

}  // namespace detail

// --- the heap --------------------------------------------------------------------------------

managed_heap managed_heap::create(std::string_view name, std::size_t bytes,
                                  const create_options& opts) {
    if (bytes < 65536)
        throw invalid_argument_error("managed heap '" + std::string(name) + "': " +
                                     std::to_string(bytes) + " bytes is too small; give 64 KiB "
                                     "or more");
    const std::size_t managed = (bytes + 4095) / 4096 * 4096;
    const detail::heap_init init{managed};
    detail::mapped_segment& s = detail::create_segment(
        detail::location::shm(name), dtype::uint8, {detail::heap_header_bytes + managed}, opts,
        &detail::make_heap_view, detail::segment_initializer{&detail::construct_heap, &init},
        detail::heap_identity());
    return managed_heap(s);
}

managed_heap managed_heap::open(std::string_view name) {
    managed_heap h(detail::open_segment(detail::location::shm(name), dtype::uint8,
                                        &detail::make_heap_view, detail::heap_identity()));
    if (h.broken()) h.refuse();
    return h;
}

void managed_heap::remove(std::string_view name) {
    const detail::segment_identity id = detail::heap_identity();
    detail::remove_segment(detail::location::shm(name), &id);
}

detail::heap_header& managed_heap::header() const {
    return *reinterpret_cast<detail::heap_header*>(
        handle_.get(dtype::uint8, &detail::make_heap_view).data);
}

bool managed_heap::broken() const {
    return std::atomic_ref<std::uint32_t>(header().broken).load(std::memory_order_acquire) != 0;
}

void managed_heap::refuse() const {
    std::atomic_ref<std::uint32_t>(header().broken).store(1, std::memory_order_release);
    const std::string n(name());
    throw heap_broken_error("managed heap '" + n +
                            "': a process died while it held one of its locks (what it was "
                            "changing may be half done): the heap is refused; remove it "
                            "(`shmpool rm " + n + "`) and build it again");
}

managed_heap::segment_manager& managed_heap::manager() const {
    if (broken()) refuse();
    return *reinterpret_cast<segment_manager*>(
        reinterpret_cast<std::byte*>(&header()) + detail::heap_header_bytes);
}

managed_heap::guard managed_heap::lock() const {
    detail::heap_header& h = header();
    if (broken()) refuse();
    try {
        h.writers.lock();
    } catch (const owner_died_error&) {
        std::atomic_ref<std::uint32_t>(h.broken).store(1, std::memory_order_release);
        h.writers.unlock();
        refuse();
    } catch (const not_recoverable_error&) {
        refuse();
    }
    return guard(&h.writers);
}

std::size_t managed_heap::size() const { return guarded([&] { return manager().get_size(); }); }

std::size_t managed_heap::free_bytes() const {
    return guarded([&] { return manager().get_free_memory(); });
}

}  // namespace shmpool
