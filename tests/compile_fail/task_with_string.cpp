// Must NOT compile: a task that captures a std::string cannot be copied byte for byte into a
// worker. ctest checks that the compiler says "cannot be carried into a worker".
#include <cstddef>
#include <string>

#include "shmpool/process_pool.hpp"

int main() {
    shmpool::process_pool pool(2);
    std::string label = "a string owns heap memory the workers cannot see";
    pool.for_each(0, 10, [label](std::size_t i) { (void)(label.size() + i); });
}
