// demos/dataset_service/http: POST /topk and POST /update, and the routing (handlers.hpp).
// Every input is checked before it is used: a request the worker cannot trust gets a 4xx with
// a message, never an exception out of the handler.
#include "handlers.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "../kernels.hpp"
#include "../protocol.hpp"

namespace dataset_service::http {
namespace {

using json = nlohmann::json;

/// A batch of queries: m x dim floats, and k.
struct batch {
    std::vector<float> queries;
    std::size_t m = 0, k = 0;
};

/// Why k cannot be used, or "".
std::string k_problem(long long k, std::size_t rows) {
    const std::size_t most = std::min(max_k, rows);
    if (k < 1 || static_cast<unsigned long long>(k) > most)
        return std::string("k must be 1 to ") + std::to_string(most);
    return {};
}

/// Appends one vector of `dim` finite numbers from JSON `v` to `out`, or says why not.
std::string append_vector(const json& v, std::size_t dim, std::vector<float>& out) {
    if (!v.is_array()) return "each vector must be an array of numbers";
    if (v.size() != dim)
        return std::string("each vector must have ") + std::to_string(dim) + " values, not " +
               std::to_string(v.size());
    for (const json& x : v) {
        if (!x.is_number()) return "vector values must be numbers";
        const double d = x.get<double>();
        if (!std::isfinite(d) || std::fabs(d) > 3.0e38) return "vector values must be finite";
        out.push_back(static_cast<float>(d));
    }
    return {};
}

/// Every element of the JSON array `vs` appended to `out` as a vector; `what` names it.
std::string append_vectors(const json& vs, std::size_t dim, std::size_t most,
                           std::vector<float>& out, const char* what) {
    if (!vs.is_array() || vs.empty())
        return std::string("\"") + what + "\" must be a non-empty array of vectors";
    if (vs.size() > most)
        return std::string("\"") + what + "\" holds at most " + std::to_string(most) + " vectors";
    out.reserve(vs.size() * dim);
    for (const json& v : vs)
        if (std::string p = append_vector(v, dim, out); !p.empty()) return p;
    return {};
}

std::string parse_json_batch(const std::string& body, std::size_t rows, std::size_t dim, batch& b) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return "malformed JSON";
    if (!j.is_object()) return "the body must be a JSON object";
    long long k = 10;
    if (j.contains("k")) {
        if (!j["k"].is_number_integer()) return "\"k\" must be an integer";
        k = j["k"].get<long long>();
    }
    if (std::string p = k_problem(k, rows); !p.empty()) return p;
    b.k = static_cast<std::size_t>(k);
    if (!j.contains("queries")) return "missing \"queries\"";
    if (std::string p = append_vectors(j["queries"], dim, max_batch, b.queries, "queries");
        !p.empty())
        return p;
    b.m = b.queries.size() / dim;
    return {};
}

/// An integer from the query string (?name=) or else the header `header`; `fallback` if neither.
std::string integer_param(const httplib::Request& req, const char* name, const char* header,
                          long long fallback, long long& out) {
    std::string text = req.has_param(name) ? req.get_param_value(name) : "";
    if (text.empty() && req.has_header(header)) text = req.get_header_value(header);
    if (text.empty()) {
        out = fallback;
        return {};
    }
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    if (ec != std::errc() || ptr != end) return std::string(name) + " must be an integer";
    return {};
}

std::string parse_raw_batch(const httplib::Request& req, const std::string& body, std::size_t rows,
                            std::size_t dim, batch& b) {
    const std::size_t row_bytes = dim * sizeof(float);
    if (body.empty() || body.size() % row_bytes != 0)
        return std::string("the body must be m x ") + std::to_string(dim) +
               " float32 (a multiple of " + std::to_string(row_bytes) + " bytes)";
    long long k = 0, m = 0;
    if (std::string p = integer_param(req, "k", "X-K", 10, k); !p.empty()) return p;
    if (std::string p = k_problem(k, rows); !p.empty()) return p;
    const auto body_m = static_cast<long long>(body.size() / row_bytes);
    if (std::string p = integer_param(req, "m", "X-M", body_m, m); !p.empty()) return p;
    if (m != body_m)
        return std::string("m = ") + std::to_string(m) + " but the body holds " +
               std::to_string(body_m) + " vectors of " + std::to_string(dim) + " float32";
    if (static_cast<std::size_t>(m) > max_batch)
        return std::string("a batch holds at most ") + std::to_string(max_batch) + " queries";
    b.k = static_cast<std::size_t>(k);
    b.m = static_cast<std::size_t>(m);
    b.queries.resize(b.m * dim);
    std::memcpy(b.queries.data(), body.data(), body.size());
    for (const float x : b.queries)
        if (!std::isfinite(x)) return "vector values must be finite";
    return {};
}

/// The answer to a checked batch: one scan of the matrix under the shared lock.
json answer(worker_context& ctx, const batch& b) {
    std::vector<hit> hits(b.m * b.k);
    std::vector<float> floor(b.m);
    std::vector<std::size_t> count(b.m);
    {
        std::shared_lock reading(*ctx.rwlock);
        scan_top_k(ctx.matrix.data(), ctx.rows(), ctx.dim(), b.queries.data(), b.m, b.k,
                   hits.data(), floor.data(), count.data());
    }
    json indices = json::array(), scores = json::array();
    for (std::size_t q = 0; q < b.m; ++q) {
        json rows = json::array(), s = json::array();
        for (std::size_t i = 0; i < b.k; ++i) {
            rows.push_back(hits[q * b.k + i].row);
            s.push_back(hits[q * b.k + i].score);
        }
        indices.push_back(std::move(rows));
        scores.push_back(std::move(s));
    }
    return {{"indices", std::move(indices)}, {"scores", std::move(scores)}, {"worker", ctx.slot}};
}

void post_topk(worker_context& ctx, const httplib::Request& req, const std::string& body,
               httplib::Response& res) {
    const auto start = clock_type::now();
    batch b;
    const bool raw = req.get_header_value("Content-Type").starts_with("application/octet-stream");
    const std::string problem = raw ? parse_raw_batch(req, body, ctx.rows(), ctx.dim(), b)
                                    : parse_json_batch(body, ctx.rows(), ctx.dim(), b);
    if (!problem.empty()) return send_error(res, 400, problem);
    res.set_content(answer(ctx, b).dump(), "application/json");
    record_latency(ctx, seconds_since(start) * 1e6);
}

/// The rows an update names: "rows": [r, ...] or "start": r, `count` of them.
std::string update_rows(const json& j, std::size_t count, std::size_t rows,
                        std::vector<std::size_t>& out) {
    if (j.contains("rows") == j.contains("start")) return "give either \"rows\" or \"start\"";
    if (j.contains("start")) {
        const json& s = j["start"];
        if (!s.is_number_unsigned() || s.get<std::uint64_t>() > rows ||
            rows - s.get<std::uint64_t>() < count)
            return std::string("\"start\" + the number of values must be at most ") +
                   std::to_string(rows);
        for (std::size_t i = 0; i < count; ++i) out.push_back(s.get<std::size_t>() + i);
        return {};
    }
    const json& r = j["rows"];
    if (!r.is_array() || r.size() != count) return "\"rows\" must list one row per vector";
    for (const json& x : r) {
        if (!x.is_number_unsigned() || x.get<std::uint64_t>() >= rows)
            return std::string("rows must be integers 0 to ") + std::to_string(rows - 1);
        out.push_back(x.get<std::size_t>());
    }
    return {};
}

void post_update(worker_context& ctx, const std::string& body, httplib::Response& res) {
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return send_error(res, 400, "malformed JSON");
    if (!j.is_object() || !j.contains("values"))
        return send_error(res, 400, "the body must be an object with \"values\"");
    const std::size_t dim = ctx.dim();
    std::vector<float> values;
    if (std::string p = append_vectors(j["values"], dim, ctx.rows(), values, "values"); !p.empty())
        return send_error(res, 400, p);
    std::vector<std::size_t> rows;
    if (std::string p = update_rows(j, values.size() / dim, ctx.rows(), rows); !p.empty())
        return send_error(res, 400, p);
    std::uint64_t version = 0;
    {
        std::unique_lock writing(*ctx.rwlock);  // readers finish their scans, new ones wait
        for (std::size_t i = 0; i < rows.size(); ++i)
            std::memcpy(ctx.matrix.data() + rows[i] * dim, values.data() + i * dim,
                        dim * sizeof(float));
        version = ctx.stats[matrix_version].fetch_add(1) + 1;
    }
    res.set_content(json{{"updated", rows.size()}, {"version", version}}.dump(),
                    "application/json");
}

/// The request's body into `body`; false (the status already set: 413 over --max-body, 400)
/// when it could not be read.
bool read_body(const httplib::ContentReader& reader, std::string& body) {
    return reader([&body](const char* data, std::size_t n) {
        body.append(data, n);
        return true;
    });
}

}  // namespace

void send_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", message}}.dump(), "application/json");
}

namespace {

/// Errors as JSON bodies (404, 413, a handler's exception as 500), and the per-worker counters.
void install_error_handling(httplib::Server& server, worker_context& ctx) {
    using handled = httplib::Server::HandlerResponse;
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return handled::Unhandled;
            const std::string what = res.status == 404 ? "not found: " + req.path
                                     : res.status == 413
                                         ? std::string("body too large")
                                         : std::string("HTTP status ") + std::to_string(res.status);
            send_error(res, res.status, what);
            return handled::Handled;
        }));
    server.set_exception_handler([](const auto&, auto& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what += std::string(": ") + e.what();
        } catch (...) {
        }
        send_error(res, 500, what);
    });
    server.set_logger([&ctx](const httplib::Request&, const httplib::Response& res) {
        ctx.stats[slot_at(ctx.slot, slot_served)].fetch_add(1);
        if (res.status >= 400) ctx.stats[slot_at(ctx.slot, slot_errors)].fetch_add(1);
    });
}

}  // namespace

void install_handlers(httplib::Server& server, worker_context& ctx) {
    // Content-reader handlers: the body is read here, whatever its Content-Type. (httplib's
    // own reading parses an application/x-www-form-urlencoded body, what `curl -d` sends by
    // default, as a form, and refuses one over 8 KiB with 413.)
    server.Post("/topk", [&ctx](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
        std::string body;
        if (read_body(reader, body)) post_topk(ctx, req, body, res);
    });
    server.Post("/update", [&ctx](const httplib::Request&, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
        std::string body;
        if (read_body(reader, body)) post_update(ctx, body, res);
    });
    server.Get("/health", [&ctx](const auto&, auto& res) {
        res.set_content(health_json(ctx).dump(), "application/json");
    });
    server.Get("/stats", [&ctx](const auto&, auto& res) {
        res.set_content(stats_json(ctx).dump(2), "application/json");
    });
    install_error_handling(server, ctx);
}

}  // namespace dataset_service::http
