// shmpool: named shared N-dimensional arrays for processes on one machine.
// Include this header to get every public part of the library.
#pragma once

#include "shmpool/barrier.hpp"
#include "shmpool/catalog.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/error.hpp"
#include "shmpool/event.hpp"
#include "shmpool/file_lock.hpp"
#include "shmpool/memory.hpp"
#include "shmpool/process_pool.hpp"
#include "shmpool/progress.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/segment.hpp"
#include "shmpool/semaphore.hpp"
#include "shmpool/shared_array.hpp"
#include "shmpool/shared_rwlock.hpp"
#include "shmpool/value.hpp"
