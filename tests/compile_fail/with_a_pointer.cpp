// Must NOT compile: a raw pointer given to shmpool::with(...) would reach the workers as an
// address that means nothing there; ctest checks that the message names the fix.
#include <cstddef>
#include <vector>

#include "shmpool/process_pool.hpp"

int main() {
    shmpool::process_pool pool(2);
    std::vector<double> v(10);
    pool.for_each(0, 10, [](std::size_t, const double*) {}, shmpool::with(v.data()));
}
