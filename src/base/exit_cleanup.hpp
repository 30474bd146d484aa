// What a process must undo when it ends, even by SIGINT, SIGTERM or abort(): the segments it created
// (unless persistent) and its pools' processes. Kept in fixed tables that a signal handler may
// read without locks or allocation.
#pragma once

#include <sys/types.h>

#include <string>

namespace shmpool::detail {

/// Records that this process created the segment at `path` and removes it when it is killed by
/// SIGINT or SIGTERM. At most 256 are tracked; beyond that `shmpool gc` cleans up.
void remember_owned_segment(const std::string& path) noexcept;
/// Forgets it (it was removed, or the process exits normally and removes it itself).
void forget_owned_segment(const std::string& path) noexcept;

/// Records a pool's zygote, killed (with its workers) on SIGINT or SIGTERM.
void register_pool_zygote(pid_t zygote) noexcept;
void unregister_pool_zygote(pid_t zygote) noexcept;

/// Installs the SIGINT, SIGTERM and SIGABRT (abort(), std::terminate) handlers, once, where the
/// process has none of its own (the disposition is SIG_DFL). The handler stops the pools,
/// removes the owned segments (async-signal-safe calls on fixed tables only), then re-raises
/// the signal so that the process ends with the usual status.
void install_termination_handlers() noexcept;

}  // namespace shmpool::detail
