// The PID of this process, cached: handles and locks compare it on every use.
#pragma once

#include <sys/types.h>

#include "shmpool/detail/export.hpp"

namespace shmpool::detail {

/// getpid(), cached and refreshed in the child after fork() (pthread_atfork).
SHMPOOL_API pid_t current_pid() noexcept;

}  // namespace shmpool::detail
