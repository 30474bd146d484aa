// Must NOT compile: a read-only handle (open_read_only, shared_array<const T>) gives const
// access, so a write is a compile error rather than a SIGSEGV on its PROT_READ mapping.
#include "shmpool/shared_array.hpp"

int main() {
    auto grid = shmpool::shared_array<double>::open_read_only("grid");
    grid.data()[0] = 1.0;
}
