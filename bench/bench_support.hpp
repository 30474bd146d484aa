// What the benchmark programs share: their common flags, timing, the median/min/max of rounds,
// figures compared with their baselines, the printed tables, the JSON they write for
// bench/report.py, checks of what a timed fill wrote, and the names of the arrays they create
// (all removed at the end, even on an exception).
#pragma once

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <ostream>
#include <shmpool/catalog.hpp>
#include <shmpool/process_pool.hpp>
#include <shmpool/shared_array.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;
inline constexpr double no_value = std::numeric_limits<double>::quiet_NaN();

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// The flags every benchmark takes.
struct run_options {
    int rounds = 5;
    bool rounds_given = false;  // set by parse_run_options: --quick keeps an explicit --rounds
    bool quick = false;
    std::string json;
};

/// Adds --rounds, --quick and --json to `app`.
inline void add_run_options(CLI::App& app, run_options& o) {
    app.add_option("--rounds", o.rounds, "rounds, each running every variant and baseline")
        ->check(CLI::PositiveNumber);
    app.add_flag("--quick", o.quick, "smaller and fewer runs: a smoke test");
    app.add_option("--json", o.json, "also write the figures to this file, for bench/report.py");
}

/// Parses the command line; after `--help` or a bad flag, exits as CLI11 says (0 or 1..).
inline void parse_run_options(CLI::App& app, run_options& o, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::exit(app.exit(e));
    }
    o.rounds_given = app.count("--rounds") > 0;
}

/// One measured quantity, one value per round (NaN: not measured that round).
struct series {
    std::string name;
    std::string unit;
    bool higher_is_better = true;
    std::vector<double> values;
};

struct stats {
    double median = no_value, min = no_value, max = no_value;
};

/// Median, min and max of the values that are not NaN.
inline stats summarize(const std::vector<double>& values) {
    std::vector<double> v;
    for (double x : values)
        if (!std::isnan(x)) v.push_back(x);
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return {median, v.front(), v.back()};
}

/// A reported figure: a series, its baseline's median and the ratio, and maybe a target.
struct figure {
    std::string section;
    series s;
    stats st;
    std::string baseline_name;  // empty: no baseline (a baseline itself, or an absolute figure)
    double baseline_value = no_value;
    double ratio = no_value;  // times better than the baseline
    std::string target;       // empty: no target
    int met = -1;             // -1 no target, 0 missed, 1 met
};

/// The figures of this run, in the order they were added.
inline std::vector<figure> figures;

inline figure& add_figure(const std::string& section, const series& s,
                          const series* base = nullptr) {
    figure f{section, s, summarize(s.values), {}, no_value, no_value, {}, -1};
    if (base) {
        f.baseline_name = base->name;
        f.baseline_value = summarize(base->values).median;
        if (!std::isnan(f.st.median) && !std::isnan(f.baseline_value) && f.st.median > 0)
            f.ratio = s.higher_is_better ? f.st.median / f.baseline_value
                                         : f.baseline_value / f.st.median;
    }
    figures.push_back(std::move(f));
    return figures.back();
}

inline void set_target(figure& f, const std::string& text, double measured, double bound,
                       bool at_least) {
    f.target = text;
    if (std::isnan(measured)) return;
    f.met = at_least ? measured >= bound : measured <= bound;
}

/// A number with the digits that matter: "1234567", "123.4", "12.34", "0.1234", or "n/a".
inline std::string number(double x) {
    if (std::isnan(x)) return "n/a";
    char buf[64];
    const double a = std::fabs(x);
    if (a >= 1e5) std::snprintf(buf, sizeof buf, "%.0f", x);
    else if (a >= 100) std::snprintf(buf, sizeof buf, "%.1f", x);
    else if (a >= 1) std::snprintf(buf, sizeof buf, "%.2f", x);
    else std::snprintf(buf, sizeof buf, "%.4f", x);
    return buf;
}

inline std::string ratio_text(double r) {
    if (std::isnan(r)) return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, r >= 100 ? "%.0fx" : "%.2fx", r);
    return buf;
}

/// Prints the figures of `section` as a table; columns `name_width` and `base_width` wide.
inline void print_section(const std::string& section, int name_width = 44, int base_width = 40) {
    std::printf("\n== %s\n", section.c_str());
    std::printf("%-*s %10s %10s %10s %-9s | %-*s %8s | %s\n", name_width, "figure", "median", "min",
                "max", "unit", base_width, "baseline (its median)", "ratio", "target met?");
    for (const figure& f : figures) {
        if (f.section != section) continue;
        std::string base;
        if (!f.baseline_name.empty())
            base = f.baseline_name + ": " + number(f.baseline_value) + " " + f.s.unit;
        std::string target = f.target.empty() ? "" : f.target + ": ";
        if (!f.target.empty()) target += f.met < 0 ? "n/a" : f.met ? "yes" : "NO";
        std::printf("%-*s %10s %10s %10s %-9s | %-*s %8s | %s\n", name_width, f.s.name.c_str(),
                    number(f.st.median).c_str(), number(f.st.min).c_str(),
                    number(f.st.max).c_str(), f.s.unit.c_str(), base_width, base.c_str(),
                    ratio_text(f.ratio).c_str(), target.c_str());
    }
    std::fflush(stdout);
}

inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

inline std::string json_number(double x) {
    if (std::isnan(x) || std::isinf(x)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

/// Writes the start of a benchmark's JSON: its name, what ratios mean, and its configuration
/// (values already in JSON), up to the opening bracket of "figures".
inline void write_json_head(std::ostream& out, const std::string& benchmark,
                            const std::string& ratio_meaning,
                            const std::map<std::string, std::string>& config) {
    out << "{\n  \"benchmark\": " << json_string(benchmark)
        << ",\n  \"ratio_meaning\": " << json_string(ratio_meaning) << ",\n  \"config\": {";
    bool first = true;
    for (const auto& [k, v] : config) {
        out << (first ? "" : ", ") << json_string(k) << ": " << v;
        first = false;
    }
    out << "},\n  \"figures\": [\n";
}

/// Writes `figures` as the elements of the "figures" array (without the closing bracket).
inline void write_json_figures(std::ostream& out) {
    for (std::size_t i = 0; i < figures.size(); ++i) {
        const figure& f = figures[i];
        out << "    {\"section\": " << json_string(f.section) << ", \"name\": "
            << json_string(f.s.name) << ", \"value\": " << json_number(f.st.median)
            << ", \"unit\": " << json_string(f.s.unit) << ", \"baseline_name\": "
            << (f.baseline_name.empty() ? "null" : json_string(f.baseline_name))
            << ", \"baseline_value\": " << json_number(f.baseline_value)
            << ", \"ratio\": " << json_number(f.ratio) << ", \"min\": " << json_number(f.st.min)
            << ", \"max\": " << json_number(f.st.max) << ", \"target\": "
            << (f.target.empty() ? "null" : json_string(f.target)) << ", \"target_met\": "
            << (f.met < 0 ? "null" : f.met ? "true" : "false") << ", \"rounds\": [";
        for (std::size_t r = 0; r < f.s.values.size(); ++r)
            out << (r ? ", " : "") << json_number(f.s.values[r]);
        out << "]}" << (i + 1 < figures.size() ? "," : "") << "\n";
    }
}

/// The names of the arrays a benchmark creates: each is removed by remove(), and whatever is
/// left when the guard goes out of scope, even on an exception.
/// The number after "KEY": in `text` (the JSON a Python baseline printed), searching from
/// `from`; NaN when absent.
inline double json_field(const std::string& text, const std::string& key, std::size_t from = 0) {
    if (from == std::string::npos) return no_value;
    const std::size_t k = text.find("\"" + key + "\"", from);
    if (k == std::string::npos) return no_value;
    const std::size_t colon = text.find(':', k);
    if (colon == std::string::npos) return no_value;
    char* end = nullptr;
    const double v = std::strtod(text.c_str() + colon + 1, &end);
    return end == text.c_str() + colon + 1 ? no_value : v;
}

#ifndef SHMPOOL_PYTHON
#define SHMPOOL_PYTHON "python3"
#endif

/// Runs `PYTHON SCRIPT --json [--quick]` (the python3 with numpy found at configure time,
/// SHMPOOL_PYTHON) and returns what it printed, or "" (with a warning on stderr) when it cannot
/// run or fails: that round then has no Python baseline.
inline std::string run_python_json(const std::string& script, bool quick) {
    const std::string cmd = std::string("'") + SHMPOOL_PYTHON + "' '" + script + "' --json" +
                            std::string(quick ? " --quick" : "");
    std::fflush(nullptr);
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) {
        std::fprintf(stderr, "warning: cannot run %s: %s\n", cmd.c_str(), std::strerror(errno));
        return {};
    }
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
    const int status = ::pclose(p);
    if (status == 0) return text;
    std::fprintf(stderr, "warning: %s failed (status %d); Python baselines missing this round\n",
                 cmd.c_str(), status);
    return {};
}

/// The task of the pool fills: row r of a rows x cols array gets v in every element.
struct row_writer {
    shmpool::shared_array<double> a;
    std::size_t cols;
    double v;
    void operator()(std::size_t r) const { std::fill_n(a.data() + r * cols, cols, v); }
};

/// Checks a few elements of a rows x cols array after a timed fill: a benchmark of writes that
/// did not happen is worse than none. Throws std::runtime_error naming `what`.
inline void spot_check(const double* p, std::size_t rows, std::size_t cols, double v,
                       const std::string& what) {
    for (std::size_t r : {std::size_t{0}, rows / 3, rows / 2, rows - 1})
        for (std::size_t c : {std::size_t{0}, cols - 1})
            if (p[r * cols + c] != v)
                throw std::runtime_error(
                    what + ": element (" + std::to_string(r) + ", " + std::to_string(c) + ") is " +
                    std::to_string(p[r * cols + c]) + ", expected " + std::to_string(v));
}

/// Whether a worker of `pool` still maps the array `name` (removed arrays linger until the
/// worker's next call after 100 ms; see release_removed_segments in src/pool_worker.cpp).
inline bool any_worker_maps(const shmpool::process_pool& pool, const std::string& name) {
    for (int pid : pool.worker_pids()) {
        std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
        std::string line;
        while (std::getline(maps, line))
            if (line.find(name) != std::string::npos) return true;
    }
    return false;
}

class array_names {
public:
    explicit array_names(std::string prefix) : prefix_(std::move(prefix)) {}
    array_names(const array_names&) = delete;
    array_names& operator=(const array_names&) = delete;
    ~array_names() {
        for (const std::string& name : std::vector<std::string>(names_)) remove(name);
    }

    /// A new name: PREFIX_PID_TAG_N.
    std::string make_name(const std::string& tag) {
        std::string name = prefix_ + "_" + std::to_string(::getpid()) + "_" + tag + "_" +
                           std::to_string(counter_++);
        names_.push_back(name);
        return name;
    }

    /// Removes `name` now, if it is still there.
    void remove(const std::string& name) noexcept {
        try {
            shmpool::remove_array(name);
        } catch (...) {
        }
        std::erase(names_, name);
    }

private:
    std::string prefix_;
    std::vector<std::string> names_;
    unsigned counter_ = 0;
};

}  // namespace bench
