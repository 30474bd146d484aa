// Must compile warning-free with -Wall -Wextra -Werror: options are written with designated
// initializers, naming only the fields that matter, as the documentation does.
#include <cstddef>

#include "shmpool/process_pool.hpp"

int main() {
    shmpool::process_pool pool(2);
    pool.for_each(0, 10, [](std::size_t) {}, {.chunk = 10});
    pool.for_each(0, 10, [](std::size_t) {}, {.retries = 2});
    pool.for_each(0, 10, [](std::size_t) {},
                  shmpool::call_options{.kind = shmpool::schedule::static_,
                                        .show_progress = shmpool::progress::never});
    shmpool::process_pool threaded(2, {.allow_threads = true});
}
