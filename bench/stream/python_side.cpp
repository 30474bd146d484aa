// bench/stream: the Python baseline, bench/stream/python_stream.py, run once a round with the
// python3 found at configure time (SHMPOOL_PYTHON); its JSON gives the Python side of figures 1
// (multiprocessing.Pool(2).imap pipeline, its stages alone) and 3 (imap_unordered of empty
// tasks). When it cannot run, that round has no Python figures (NaN), with a warning.
#include <cmath>
#include <cstdio>
#include <string>

#include "stream.hpp"

#ifndef SHMPOOL_SOURCE_DIR
#error "bench/CMakeLists.txt defines SHMPOOL_SOURCE_DIR (where bench/stream/python_stream.py lives)"
#endif

namespace stream_bench {

python_run run_python(bool quick) {
    python_run out;
    const json py = run_python_json(SHMPOOL_SOURCE_DIR "/bench/stream/python_stream.py", quick);
    if (py.is_null()) return out;
    out.item_us = number_at(py, {"item_us"});
    out.items = number_at(py, {"items"});
    out.consumer_s = number_at(py, {"consumer_s"});
    out.producer_s = number_at(py, {"producer_s"});
    for (int k = 0; k < 3; ++k) {
        const std::string c = std::to_string(python_chunksizes[k]);
        out.pipeline_s[k] = number_at(py, {"pipeline_s", c.c_str()});
    }
    out.empty_items = number_at(py, {"empty_items"});
    out.empty_s = number_at(py, {"empty_s"});
    out.version = string_at(py, "python");
    if (std::isnan(out.items) || std::isnan(out.consumer_s) || std::isnan(out.empty_s))
        std::fprintf(stderr,
                     "warning: cannot parse the output of bench/stream/python_stream.py: %s\n",
                     py.dump().c_str());
    return out;
}

}  // namespace stream_bench
