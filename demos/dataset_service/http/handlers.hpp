// demos/dataset_service/http: the endpoints a worker serves (handlers.cpp, stats.cpp).
//   POST /topk    JSON {"k": 10, "queries": [[dim floats], ...]}, or a raw float32 body
//                 (Content-Type: application/octet-stream; ?k=10&m=8 or headers X-K, X-M)
//                 -> {"indices": [[k rows], ...], "scores": [[k floats], ...], "worker": slot}
//   POST /update  {"rows": [r, ...], "values": [[dim floats], ...]} or {"start": r, "values":
//                 [...]}: rewrites those rows in place under the writer side of the lock
//                 -> {"updated": n, "version": v}
//   GET  /health  {"status": "ok", "rows", "dim", "workers", "matrix", "matrix_path", "worker"}
//   GET  /stats   per-worker counters, latency percentiles, the memory proof
// Bad input gets a JSON {"error": "..."} with 400 (413 over --max-body, 404 unknown path).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "service.hpp"

namespace dataset_service::http {

/// Routes, error handler, logger (the per-worker counters) of a worker's server.
void install_handlers(httplib::Server& server, worker_context& ctx);

/// Sets `res` to status `status` and a JSON body {"error": message}.
void send_error(httplib::Response& res, int status, const std::string& message);

/// The bodies of GET /health and GET /stats.
nlohmann::ordered_json health_json(const worker_context& ctx);
nlohmann::ordered_json stats_json(const worker_context& ctx);

/// Records a /topk latency in the worker's histogram.
void record_latency(const worker_context& ctx, double microseconds);

}  // namespace dataset_service::http
