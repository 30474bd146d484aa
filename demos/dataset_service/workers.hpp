// demos/dataset_service: the server side. N pre-forked workers share one listening socket; each
// attaches to the dataset by name, then accepts a request, scans the matrix under the shared
// lock and replies, until the master shuts the socket down.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dataset.hpp"
#include "protocol.hpp"

namespace dataset_service {

/// N workers sharing one listening socket. The destructor stops them if stop() was not called.
class worker_group {
public:
    /// Listens on "@socket_name" and forks `count` workers that attach to the objects `n` names.
    worker_group(std::size_t count, const names& n, const std::string& socket_name);
    worker_group(const worker_group&) = delete;
    worker_group& operator=(const worker_group&) = delete;
    ~worker_group() { stop(); }

    const std::vector<pid_t>& pids() const noexcept { return pids_; }

    /// Waits until every worker has attached to the shared objects by name. Throws if one
    /// exits first (its message is on stderr) or does not attach within 30 s.
    void wait_attached(const shmpool::raw_array<std::uint64_t>& stats) const;

    /// Shuts the listening socket down (each worker's accept() then fails with EINVAL and the
    /// worker exits), reaps the workers, kills any still there after 10 s. Returns true if
    /// every worker exited with status 0. Idempotent.
    bool stop() noexcept;

private:
    socket_fd listen_;
    std::vector<pid_t> pids_;
    bool stopped_ = false;
    bool clean_ = false;
};

}  // namespace dataset_service
