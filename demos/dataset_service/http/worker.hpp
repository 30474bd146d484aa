// demos/dataset_service/http: one pre-forked worker. It opens the dataset by name, builds its
// own cpp-httplib server (threads are created only now, after the fork) and serves on the
// listening socket inherited from the master, until SIGTERM or SIGINT: then it stops
// accepting, finishes the requests in flight and exits.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "service.hpp"

namespace dataset_service::http {

/// The child's side of the fork: never returns. Exit status 0 after a clean stop.
[[noreturn]] void worker_main(std::uint32_t slot, std::size_t workers, int listen_fd,
                              const names& n, const serve_options& so, pid_t master);

}  // namespace dataset_service::http
