// Must NOT compile: the checked form (shmpool::with) takes a function that captures nothing;
// ctest checks that the message says so.
#include <cstddef>

#include "shmpool/process_pool.hpp"

int main() {
    shmpool::process_pool pool(2);
    double scale = 2.0;
    pool.for_each(0, 10, [scale](std::size_t, int) { (void)scale; }, shmpool::with(1));
}
