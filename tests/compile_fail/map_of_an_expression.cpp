// Must NOT compile: map() of a task that returns an xtensor expression (which refers to the
// worker's memory); ctest checks that shmpool's message is the only error, not a page of
// template instantiations.
#include <xtensor/xreducer.hpp>
#include <xtensor/xview.hpp>

#include "shmpool/process_pool.hpp"
int main() {
    shmpool::process_pool pool(2);
    auto grid = shmpool::shared_array<double>::create("grid", {10, 10});
    auto sums = pool.map(0, 10, [grid](std::size_t i) { return xt::sum(xt::row(grid.view(), i)); });
}
