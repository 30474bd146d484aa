// shmpool: named shared N-dimensional arrays for processes on one machine, a pool of forked
// workers that fill them in place, and the locks and values processes share.
// Include this header to get every public part of the library.
//
// @code
// #include <shmpool/shmpool.hpp>
// #include <xtensor/xview.hpp>
//
// int main() {
//     shmpool::process_pool pool(4);  // first: the workers are forked before any thread starts
//     auto grid = shmpool::shared_array<double>::create("grid", {10000, 8000});  // /dev/shm/grid
//     pool.for_each(0, 10000, [grid](std::size_t row) { xt::row(grid.view(), row).fill(42.0); });
//     auto hits = shmpool::value<long>::create("hits", 0);
//     pool.for_each(0, 100, [hits](std::size_t) { hits.with_lock([](long& n) { ++n; }); });
// }   // grid and hits are removed when the program exits (create_options::persistent keeps them)
// @endcode
//
// One header per concept: shared_array.hpp (arrays), process_pool.hpp (the pool), value.hpp
// (shared values), call_handle.hpp (a submitted call), robust_mutex.hpp, shared_rwlock.hpp, semaphore.hpp, barrier.hpp, event.hpp
// and file_lock.hpp (locks), frozen.hpp and frozen_builder.hpp (read-only stores of columns),
// catalog.hpp (ls, gc), memory.hpp (who holds what), process.hpp
// (waiting for a child), error.hpp (the exceptions, all derived from shmpool::error).
#pragma once

#include "shmpool/barrier.hpp"
#include "shmpool/call_handle.hpp"
#include "shmpool/catalog.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/error.hpp"
#include "shmpool/event.hpp"
#include "shmpool/file_lock.hpp"
#include "shmpool/frozen.hpp"
#include "shmpool/frozen_builder.hpp"
#include "shmpool/memory.hpp"
#include "shmpool/process.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/progress.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"
#include "shmpool/semaphore.hpp"
#include "shmpool/shared_array.hpp"
#include "shmpool/shared_object.hpp"
#include "shmpool/shared_rwlock.hpp"
#include "shmpool/value.hpp"
