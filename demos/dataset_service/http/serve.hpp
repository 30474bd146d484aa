// demos/dataset_service/http: the --serve mode. The master loads the matrix into a named shared
// array once, opens the listening socket, forks --workers HTTP workers that inherit it, prints
//   listening on http://127.0.0.1:PORT
//   ready: N workers (pids ...)
// (flushed: a test or script can read the port chosen for --port 0), replaces a worker that
// dies, and on SIGTERM or SIGINT stops the workers (requests in flight are finished), reaps
// them, removes the shared objects and exits 0.
#pragma once

#include <CLI/CLI.hpp>

#include "../dataset.hpp"
#include "service.hpp"

namespace dataset_service::http {

/// Adds --serve and the options of the HTTP service to `app`.
void add_serve_options(CLI::App& app, serve_options& so);

/// Runs the service until SIGTERM or SIGINT; returns the exit status.
int run_service(const options& o, const serve_options& so);

}  // namespace dataset_service::http
