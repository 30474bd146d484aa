// Positive control for task_with_string.cpp: the same call with trivially copyable captures (an
// int and a shared_array handle) must compile with the same command.
#include <cstddef>
#include <cstdint>

#include "shmpool/process_pool.hpp"
#include "shmpool/shared_array.hpp"

int main() {
    shmpool::process_pool pool(2);
    auto out = shmpool::shared_array<std::int64_t>::create("shmpool_compile_check", {10});
    const int offset = 3;
    pool.for_each(0, 10, [out, offset](std::size_t i) {
        out.view()(i) = static_cast<std::int64_t>(i) + offset;
    });
}
