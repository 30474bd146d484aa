// bench/stream, figure 3: empty tasks through a stream. pool.imap_unordered over 1,000,000
// indices (100,000 with --quick) of a task that returns its index, consumed by a loop that adds
// them up (checked), in tasks per second; the same through pool.imap (ordered); against
// multiprocessing.Pool(2).imap_unordered(chunksize=1) on empty tasks, run over fewer items
// (20,000; see python_stream.py) since the rates are compared. Both use 2 workers.
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "stream.hpp"

namespace stream_bench {
namespace {

// Tasks per second of `stream` (a range of index-valued results, or of (index, result) pairs).
template <class Make, class Value>
double rate(const context& ctx, Make make, Value value, const char* what) {
    const std::size_t n = ctx.n.empty_items;
    std::size_t total = 0, count = 0;
    const auto t = clock_type::now();
    for (const auto& x : make()) {
        total += value(x);
        ++count;
    }
    const double seconds = seconds_since(t);
    if (count != n || total != n * (n - 1) / 2)
        throw std::runtime_error(std::string("figure 3: ") + what + " yielded other results");
    return double(n) / seconds;
}

}  // namespace

void empty_step(const context& ctx, empty_series& s) {
    const std::size_t n = ctx.n.empty_items;
    const shmpool::call_options opts = quiet();
    const auto task = [](std::size_t i) { return i; };
    const int round = static_cast<int>(s.unordered.values.size());
    const std::vector<std::function<void()>> steps = {
        [&] {
            s.unordered.values.push_back(rate(
                ctx, [&] { return ctx.pool.imap_unordered(0, n, task, 0, opts); },
                [](const std::pair<std::size_t, std::size_t>& p) { return p.second; },
                "imap_unordered"));
        },
        [&] {
            s.ordered.values.push_back(rate(
                ctx, [&] { return ctx.pool.imap(0, n, task, 0, opts); },
                [](std::size_t x) { return x; }, "imap"));
        },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + round) % steps.size()]();
}

void empty_python(const python_run& py, empty_series& s) {
    s.py.values.push_back(py.empty_items / py.empty_s);  // NaN when the baseline did not run
}

void report_empty(empty_series& s) {
    add_figure(empty_section, s.py);
    figure& f = add_figure(empty_section, s.unordered, &s.py);
    set_target(f, ">= 100x", f.ratio, 100, true);
    add_figure(empty_section, s.ordered, &s.py);
}

}  // namespace stream_bench
