// bench/fill_sweep: the figures (one point per curve and worker count, with its baseline), the
// tables printed after each figure family and the JSON written for bench/report.py.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fill_sweep.hpp"

namespace fill_sweep_bench {
namespace {

// Times better than the baseline (value / baseline: every figure is a rate); NaN without one.
double ratio_of(const point& p) {
    if (!p.baseline) return no_value;
    const double v = summarize(p.values).median, b = summarize(p.baseline->values).median;
    return std::isnan(v) || std::isnan(b) || b <= 0 ? no_value : v / b;
}

// One point as bench/report.py reads it.
json point_json(const point& p) {
    const stats st = summarize(p.values);
    return {{"section", p.section},
            {"name", p.name},
            {"series", p.series},
            {"workers", p.workers > 0 ? json(p.workers) : json()},
            {"value", json_number(st.median)},
            {"unit", "GB/s"},
            {"baseline_name", p.baseline ? json(p.baseline->name) : json()},
            {"baseline_value",
             json_number(p.baseline ? summarize(p.baseline->values).median : no_value)},
            {"ratio", json_number(ratio_of(p))},
            {"min", json_number(st.min)},
            {"max", json_number(st.max)},
            {"rounds", rounds_json(p.values)}};
}

// `one` for a single worker, thread or child, else `more`.
const char* plural(int n, const char* one, const char* more) { return n == 1 ? one : more; }

}  // namespace

std::vector<const point*> sweep_points::view() const {
    std::vector<const point*> out;
    for (const auto& p : all) out.push_back(p.get());
    return out;
}

sweep_points make_points(const std::vector<int>& workers) {
    sweep_points pts;
    const auto add = [&](const std::string& section, const std::string& series,
                         const std::string& name, int w) -> point& {
        pts.all.push_back(std::make_unique<point>(point{section, series, name, w, {}, nullptr}));
        return *pts.all.back();
    };
    pts.memset_pt = &add(warm_section, "memset, 1 thread", "memset, 1 thread (ceiling)", 0);
    for (int w : workers) {
        const std::string n = std::to_string(w);
        const std::string of_workers = n + plural(w, " worker", " workers");
        pts.omp.push_back(&add(warm_section, "OpenMP",
                               "OpenMP parallel for, " + n + plural(w, " thread", " threads"), w));
        pts.warm.push_back(&add(warm_section, "shmpool warm", "shmpool static_, " + of_workers, w));
        pts.warm.back()->baseline = pts.omp.back();
        pts.warm_dyn.push_back(&add(warm_section, "shmpool warm, dynamic",
                                    "shmpool dynamic (default), " + of_workers, w));
        pts.warm_dyn.back()->baseline = pts.omp.back();
        pts.forked.push_back(&add(touch_section, "fork and write",
                                  "fork " + n + plural(w, " child", " children") + ", write, _exit",
                                  w));
        pts.touch.push_back(&add(touch_section, "shmpool first touch",
                                 "shmpool first call + touch_rows, " + of_workers, w));
        pts.touch.back()->baseline = pts.forked.back();
    }
    return pts;
}

void print_section(const std::string& section, const std::vector<const point*>& points) {
    std::printf("\n== %s\n", section.c_str());
    std::printf("%-40s %8s %8s %8s %-5s | %-40s %8s\n", "figure", "median", "min", "max", "unit",
                "baseline (its median)", "ratio");
    for (const point* p : points) {
        if (p->section != section) continue;
        const stats st = summarize(p->values);
        std::string base;
        if (p->baseline)
            base = p->baseline->name + ": " + number(summarize(p->baseline->values).median);
        std::printf("%-40s %8s %8s %8s %-5s | %-40s %8s\n", p->name.c_str(),
                    number(st.median).c_str(), number(st.min).c_str(), number(st.max).c_str(),
                    "GB/s", base.c_str(), ratio_text(ratio_of(*p)).c_str());
    }
    std::fflush(stdout);
}

void write_json(const std::string& path, const json_config& config,
                const std::vector<const point*>& points) {
    json doc = json_document(
        "fill_sweep", "times better than the baseline (value/baseline: every figure is a rate)",
        config);
    json& out = doc["figures"] = json::array();
    for (const point* p : points) out.push_back(point_json(*p));
    write_json_file(path, doc);
}

}  // namespace fill_sweep_bench
