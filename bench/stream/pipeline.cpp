// bench/stream, figure 1: a pipeline of two stages of equal cost per item, produce(i) in the
// workers and consume(x) in this process, each ~20 us of busy work (spin(), calibrated in
// main.cpp). Each round times, in an order rotated by the round:
//   - the consumer alone: consume over the items in a loop in this process;
//   - the producer alone: pool.for_each over the items with produce's work (2 workers);
//   - the old way: for each window of W items, pool.map over it, then consume its results;
//   - the pipeline: for (x : pool.imap(0, n, produce)) consume(x), with the default window and
//     with a window of W.
// On 2 cores the two stages together need the CPU time of the consumer alone (2 x 20 us of work
// per item on 2 cores, against 20 us per item for the consumer), so the pipeline's ideal is
// max(stage alone); the old way adds the producer's time to the consumer's (10 + 20 us per item:
// 1.5x). The Python side (multiprocessing.Pool(2).imap at chunksize 1, 16 and 256, its stages
// alone) comes from python_stream.py, the same pipeline with pure-Python work of ~20 us.
// When the machine's two vCPUs do not give two cores' worth (a shared host: the 2 workers then
// run the producer alone no faster than one process), the pipeline is also reported against
// the bound the machine allows, max(consumer alone, 2 x producer alone): the two stages' work
// at the rate the workers ran the producer's alone (with two real cores, the consumer alone).
// The consumer thread's CPU time over the pipeline's wall time says how much of a core the
// consumer had: below 1 when the workers, 2 processes on the same 2 cores, took its CPU.
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "stream.hpp"

namespace stream_bench {

pipeline_series::pipeline_series(std::size_t window)
    : consumer{"consumer alone: the loop in this process", "us/item", false, {}},
      producer{"producer alone: for_each, 2 workers", "us/item", false, {}},
      stage_max{"max(stage alone)", "us/item", false, {}},
      old_way{"old: map a window of " + std::to_string(window) + ", then consume it", "us/item",
              false, {}},
      imap{"imap pipeline (default window)", "us/item", false, {}},
      imap_w{"imap pipeline, window " + std::to_string(window), "us/item", false, {}},
      imap_ratio{"imap pipeline / max(stage alone)", "x", false, {}},
      imap_w_ratio{"imap pipeline, window " + std::to_string(window) + " / max(stage alone)", "x",
                   false, {}},
      old_ratio{"old way / max(stage alone)", "x", false, {}},
      imap_rate{"imap pipeline", "items/s", true, {}},
      speedup{"machine: 2 workers' speedup (consumer / producer alone)", "x", true, {}},
      bound{"machine bound: max(consumer alone, 2 x producer alone)", "us/item", false, {}},
      imap_bound_ratio{"imap pipeline / machine bound", "x", false, {}},
      imap_cpu{"imap pipeline: consumer's CPU share (CPU time / wall)", "x", true, {}},
      imap_w_cpu{"imap pipeline, window " + std::to_string(window) + ": consumer's CPU share",
                 "x", true, {}},
      py_consumer{"Python consumer alone", "us/item", false, {}},
      py_producer{"Python producer alone: Pool(2).map", "us/item", false, {}},
      py_chunk{{"Python Pool(2).imap pipeline, chunksize 1", "us/item", false, {}},
               {"Python Pool(2).imap pipeline, chunksize 16", "us/item", false, {}},
               {"Python Pool(2).imap pipeline, chunksize 256", "us/item", false, {}}},
      py_best{"Python Pool(2).imap pipeline, best chunksize", "us/item", false, {}},
      py_ratio{"Python imap pipeline (best) / max(stage alone)", "x", false, {}},
      py_best_chunk{"Python: the best chunksize", "", false, {}},
      py_rate{"Python Pool(2).imap pipeline, best chunksize", "items/s", true, {}},
      py_bound_ratio{"Python imap pipeline (best) / its machine bound", "x", false, {}} {}

namespace {

double last(const series& s) { return s.values.empty() ? no_value : s.values.back(); }

// The CPU time of the calling thread, in seconds.
double thread_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

void pipeline_step(const context& ctx, pipeline_series& s) {
    const std::size_t n = ctx.n.items, w = ctx.n.window;
    const std::uint64_t it = ctx.item_iters;
    const auto produce = [it](std::size_t i) { return spin(it, i); };
    const shmpool::call_options opts = quiet();
    const double per_item = 1e6 / double(n);
    const int round = static_cast<int>(s.consumer.values.size());

    std::vector<std::uint64_t> sums;  // every pipeline consumes the same results
    const auto check = [&](std::uint64_t acc, const char* what) {
        if (!sums.empty() && acc != sums.front())
            throw std::runtime_error(std::string("figure 1: ") + what + " consumed other results");
        sums.push_back(acc);
    };
    // Times body() and returns microseconds per item.
    const auto timed = [&](const std::function<void()>& body) {
        const auto t = clock_type::now();
        body();
        return seconds_since(t) * per_item;
    };

    double consumer = 0, producer = 0, old = 0, im = 0, imw = 0, im_cpu = 0, imw_cpu = 0;
    const std::vector<std::function<void()>> steps = {
        [&] {
            consumer = timed([&] {
                std::uint64_t acc = 0;
                for (std::size_t i = 0; i < n; ++i) acc += spin(it, i);
                keep(acc);
            });
        },
        [&] {
            producer = timed([&] {
                ctx.pool.for_each(0, n, [it](std::size_t i) { keep(spin(it, i)); }, opts);
            });
        },
        [&] {
            std::uint64_t acc = 0;
            old = timed([&] {
                for (std::size_t b = 0; b < n; b += w)
                    for (std::uint64_t x : ctx.pool.map(b, std::min(n, b + w), produce, opts))
                        acc += spin(it, x);
            });
            check(acc, "the old way");
        },
        [&] {
            std::uint64_t acc = 0;
            const double cpu = thread_cpu_seconds();
            im = timed([&] {
                for (std::uint64_t x : ctx.pool.imap(0, n, produce, 0, opts)) acc += spin(it, x);
            });
            im_cpu = (thread_cpu_seconds() - cpu) / (im * double(n) / 1e6);
            check(acc, "imap");
        },
        [&] {
            std::uint64_t acc = 0;
            const double cpu = thread_cpu_seconds();
            imw = timed([&] {
                for (std::uint64_t x : ctx.pool.imap(0, n, produce, w, opts)) acc += spin(it, x);
            });
            imw_cpu = (thread_cpu_seconds() - cpu) / (imw * double(n) / 1e6);
            check(acc, "imap with a window");
        },
    };
    for (std::size_t k = 0; k < steps.size(); ++k) steps[(k + round) % steps.size()]();

    const double stage = std::max(consumer, producer);
    s.consumer.values.push_back(consumer);
    s.producer.values.push_back(producer);
    s.stage_max.values.push_back(stage);
    s.old_way.values.push_back(old);
    s.imap.values.push_back(im);
    s.imap_w.values.push_back(imw);
    s.imap_ratio.values.push_back(im / stage);
    s.imap_w_ratio.values.push_back(imw / stage);
    s.old_ratio.values.push_back(old / stage);
    s.imap_rate.values.push_back(1e6 / im);
    s.imap_cpu.values.push_back(im_cpu);
    s.imap_w_cpu.values.push_back(imw_cpu);
    // The work of both stages at the rate the 2 workers ran the producer's alone (equal work
    // per item): the bound on this machine when its two vCPUs do not give two cores' worth.
    const double bound = std::max(consumer, 2 * producer);
    s.speedup.values.push_back(consumer / producer);
    s.bound.values.push_back(bound);
    s.imap_bound_ratio.values.push_back(im / bound);
}

void pipeline_python(const python_run& py, pipeline_series& s) {
    const double per_item = 1e6 / py.items;  // NaN when the baseline did not run
    s.py_consumer.values.push_back(py.consumer_s * per_item);
    s.py_producer.values.push_back(py.producer_s * per_item);
    double best = no_value, best_chunk = no_value;
    for (int k = 0; k < 3; ++k) {
        const double us = py.pipeline_s[k] * per_item;
        s.py_chunk[k].values.push_back(us);
        if (!std::isnan(us) && (std::isnan(best) || us < best)) {
            best = us;
            best_chunk = python_chunksizes[k];
        }
    }
    s.py_best.values.push_back(best);
    s.py_best_chunk.values.push_back(best_chunk);
    s.py_ratio.values.push_back(best / std::max(last(s.py_consumer), last(s.py_producer)));
    s.py_rate.values.push_back(1e6 / best);
    s.py_bound_ratio.values.push_back(
        best / std::max(last(s.py_consumer), 2 * last(s.py_producer)));
}

void report_pipeline(pipeline_series& s) {
    const std::string& sec = pipeline_section;
    for (const series* x : {&s.consumer, &s.producer, &s.stage_max, &s.old_way})
        add_figure(sec, *x);
    add_figure(sec, s.imap, &s.old_way);  // ratio: times faster than the old way
    add_figure(sec, s.imap_w, &s.old_way);
    for (const series* x : {&s.py_consumer, &s.py_producer, &s.py_chunk[0], &s.py_chunk[1],
                            &s.py_chunk[2], &s.py_best, &s.py_best_chunk})
        add_figure(sec, *x);
    add_figure(sec, s.py_ratio);
    figure& f = add_figure(sec, s.imap_ratio, &s.py_ratio);
    set_target(f, "<= 1.15", f.st.median, 1.15, false);
    add_figure(sec, s.imap_w_ratio, &s.py_ratio);
    add_figure(sec, s.old_ratio);
    add_figure(sec, s.py_rate);
    add_figure(sec, s.imap_rate, &s.py_rate);
    add_figure(sec, s.speedup);
    add_figure(sec, s.bound);
    add_figure(sec, s.py_bound_ratio);
    add_figure(sec, s.imap_bound_ratio, &s.py_bound_ratio);
    add_figure(sec, s.imap_cpu);
    add_figure(sec, s.imap_w_cpu);
}

}  // namespace stream_bench
