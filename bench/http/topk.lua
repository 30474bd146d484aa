-- wrk script for POST /topk: one JSON body of BATCH random queries of DIM values, made once per
-- wrk thread, sent on every request. Usage:
--   wrk -t1 -c8 -d10s -s bench/http/topk.lua http://127.0.0.1:PORT/topk -- BATCH DIM K
-- Prints one line "RESULT key=value ..." (requests/s, latency percentiles, errors) at the end.
local batch, dim, k = 8, 128, 10

function init(args)
    batch = tonumber(args[1]) or batch
    dim = tonumber(args[2]) or dim
    k = tonumber(args[3]) or k
    math.randomseed(os.time())
    local queries = {}
    for q = 1, batch do
        local v = {}
        for d = 1, dim do v[d] = string.format("%.5f", math.random() * 2 - 1) end
        queries[q] = "[" .. table.concat(v, ",") .. "]"
    end
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = '{"k":' .. k .. ',"queries":[' .. table.concat(queries, ",") .. ']}'
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.3f rps=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f " ..
        "errors=%d non2xx=%d\n",
        summary.requests, summary.duration / 1e6, summary.requests / summary.duration * 1e6,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status))
end
