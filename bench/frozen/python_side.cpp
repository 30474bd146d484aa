// bench/frozen: the Python side of figure 4. A snippet run with the python3 found at configure
// time (SHMPOOL_PYTHON), PYTHONPATH=SHMPOOL_SOURCE_DIR/python, opens the store with
// shmpool_frozen.open(path) (numpy.load with mmap_mode="r": nothing copied) and times
// store.ragged("values").row_sums(), the best of 3; it prints one JSON line.
#include <string>

#include "frozen_bench.hpp"

#ifndef SHMPOOL_SOURCE_DIR
#define SHMPOOL_SOURCE_DIR "."
#endif

namespace frozen_bench {

namespace {

// No single quote in it: it is passed to the shell between single quotes.
constexpr const char* snippet = R"(
import json, sys, time
import numpy as np
import shmpool_frozen
store = shmpool_frozen.open(sys.argv[1])
best, sums = float("inf"), None
for _ in range(3):
    start = time.perf_counter()
    sums = store.ragged("values").row_sums()
    best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "total": float(sums.sum()), "rows": len(sums),
                  "numpy": np.__version__}))
)";

}  // namespace

python_sums run_python_sums(const std::string& path) {
    const std::string cmd = std::string("PYTHONPATH='") + SHMPOOL_SOURCE_DIR + "/python' '" +
                            SHMPOOL_PYTHON + "' -c '" + snippet + "' '" + path + "'";
    python_sums out;
    const std::string text = run_command_output(cmd, "the Python figure");
    if (text.empty()) return out;
    const json doc = json::parse(last_line(text), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        std::fprintf(stderr, "warning: cannot parse the Python side's output: %s\n", text.c_str());
        return out;
    }
    out.seconds = number_at(doc, {"seconds"});
    out.total = number_at(doc, {"total"});
    out.numpy = string_at(doc, "numpy");
    return out;
}

}  // namespace frozen_bench
