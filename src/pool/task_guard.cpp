// The debug builds' warning about tasks that capture by reference (see pool_tasks.hpp).
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "os.hpp"
#include "shmpool/detail/pool_tasks.hpp"

namespace shmpool::detail {

bool holds_stack_address(const void* task, std::size_t size) {
    const auto [low, high] = thread_stack_range();
    if (high == 0) return false;
    // A capture by reference points at a live object of a caller: above the closure (the
    // stack grows down), inside the stack, aligned. Stale bytes in padding mostly point below.
    const auto above = reinterpret_cast<std::uintptr_t>(task);
    const auto* bytes = static_cast<const unsigned char*>(task);
    for (std::size_t at = 0; at + sizeof(std::uintptr_t) <= size; at += alignof(std::uintptr_t)) {
        std::uintptr_t word;
        std::memcpy(&word, bytes + at, sizeof word);
        if (word >= above && word >= low && word < high && word % alignof(std::uintptr_t) == 0)
            return true;
    }
    return false;
}

void warn_of_stack_addresses(const void* task, std::size_t size, const char* call,
                             std::atomic<bool>& warned) {
    if (!holds_stack_address(task, size) || warned.exchange(true)) return;
    std::fprintf(stderr,
                 "shmpool: warning: the task given to process_pool::%s holds an address on this "
                 "thread's stack: a capture by reference ([&x], [&]) or a pointer to a local "
                 "variable? The workers are other processes and cannot reach it: they read "
                 "their own memory there. Capture by value ([x], [=]), or pass the data as "
                 "arguments with shmpool::with(...). (A debug-build check, once per task type; "
                 "NDEBUG or SHMPOOL_NO_CAPTURE_CHECK turn it off.)\n",
                 call);
}

}  // namespace shmpool::detail
