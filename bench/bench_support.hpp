// What the benchmark programs share: their common flags (one CLI11 parser), timing, the
// median/min/max of rounds, figures compared with their baselines, the printed tables, the JSON
// they write for bench/report.py and read from the Python baselines (nlohmann-json), checks of
// what a timed fill wrote, and the names of the arrays they create (all removed at the end, even
// on an exception).
#pragma once

#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
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

/// Adds --rounds alone to `app` (for a program without --quick and --json: create_fill).
// Runs `work` in a forked child that ends with _exit (never returns into main, whose objects
// belong to the parent): status 0 if `work` returned, 1 if it threw (the message on stderr,
// with the program's name). The child dies with the parent (a killed benchmark leaves no
// process waiting at a gate).
template <class Work>
pid_t fork_child(Work&& work) {
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0) return pid;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    int rc = 0;
    try {
        work();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: process %d: %s\n", program_invocation_short_name, ::getpid(),
                     e.what());
        rc = 1;
    } catch (...) {
        rc = 1;
    }
    std::fflush(stderr);
    ::_exit(rc);
}

inline void add_rounds_option(CLI::App& app, run_options& o) {
    app.add_option("--rounds", o.rounds, "rounds, each running every variant and baseline")
        ->check(CLI::PositiveNumber);
}

/// Adds --rounds, --quick and --json to `app`.
inline void add_run_options(CLI::App& app, run_options& o) {
    add_rounds_option(app, o);
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
    if (a >= 1e5)
        std::snprintf(buf, sizeof buf, "%.0f", x);
    else if (a >= 100)
        std::snprintf(buf, sizeof buf, "%.1f", x);
    else if (a >= 1)
        std::snprintf(buf, sizeof buf, "%.2f", x);
    else
        std::snprintf(buf, sizeof buf, "%.4f", x);
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
                    number(f.st.median).c_str(), number(f.st.min).c_str(), number(f.st.max).c_str(),
                    f.s.unit.c_str(), base_width, base.c_str(), ratio_text(f.ratio).c_str(),
                    target.c_str());
    }
    std::fflush(stdout);
}

/// The JSON the programs write and read. Keys stay in the order they are written.
using json = nlohmann::ordered_json;

/// A number as the programs write it: 9 significant digits (a whole number below 1e9 stays an
/// integer, as "%.9g" prints it), NaN and infinities as null.
inline json json_number(double x) {
    if (!std::isfinite(x)) return nullptr;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    if (std::strpbrk(buf, ".e") == nullptr) return std::strtoll(buf, nullptr, 10);
    return std::strtod(buf, nullptr);
}

/// A string, or null when it is empty.
inline json json_text_or_null(const std::string& s) { return s.empty() ? json() : json(s); }

/// A benchmark's configuration, written in the order of its keys.
using json_config = std::map<std::string, json>;

/// The start of a benchmark's JSON: its name, what ratios mean, and its configuration. The
/// caller adds "figures" (figures_json(), or figures of its own) and anything else.
inline json json_document(const std::string& benchmark, const std::string& ratio_meaning,
                          const json_config& config) {
    json doc;
    doc["benchmark"] = benchmark;
    doc["ratio_meaning"] = ratio_meaning;
    json& c = doc["config"] = json::object();
    for (const auto& [key, value] : config) c[key] = value;
    return doc;
}

/// What the ratios of the programs mean (fill_sweep's and frozen's say more).
inline constexpr const char* ratio_meaning =
    "times better than the baseline (value/baseline for rates, baseline/value for times)";

/// Each round's value, as a JSON array of numbers (null: not measured that round).
inline json rounds_json(const std::vector<double>& values) {
    json out = json::array();
    for (double v : values) out.push_back(json_number(v));
    return out;
}

/// One figure as bench/report.py reads it.
inline json figure_json(const figure& f) {
    return {{"section", f.section},
            {"name", f.s.name},
            {"value", json_number(f.st.median)},
            {"unit", f.s.unit},
            {"baseline_name", json_text_or_null(f.baseline_name)},
            {"baseline_value", json_number(f.baseline_value)},
            {"ratio", json_number(f.ratio)},
            {"min", json_number(f.st.min)},
            {"max", json_number(f.st.max)},
            {"target", json_text_or_null(f.target)},
            {"target_met", f.met < 0 ? json() : json(f.met == 1)},
            {"rounds", rounds_json(f.s.values)}};
}

/// `figures`, in order, as a JSON array.
inline json figures_json() {
    json out = json::array();
    for (const figure& f : figures) out.push_back(figure_json(f));
    return out;
}

/// json_document() with this run's figures (figures_json()) under "figures".
inline json figures_document(const std::string& benchmark, const json_config& config,
                             const std::string& meaning = ratio_meaning) {
    json doc = json_document(benchmark, meaning, config);
    doc["figures"] = figures_json();
    return doc;
}

/// Writes `doc` to `path` (indented, one key per line); throws std::runtime_error on failure.
inline void write_json_file(const std::string& path, const json& doc) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("cannot write " + path);
    out << doc.dump(2) << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

/// The number at `path` (keys, outermost first) in `doc`; NaN when absent or not a number.
inline double number_at(const json& doc, std::initializer_list<const char*> path) {
    const json* j = &doc;
    for (const char* key : path) {
        if (!j->is_object()) return no_value;
        const auto it = j->find(key);
        if (it == j->end()) return no_value;
        j = &*it;
    }
    return j->is_number() ? j->get<double>() : no_value;
}

/// The string at `key` in `doc`; empty when absent or not a string.
inline std::string string_at(const json& doc, const char* key) {
    const auto it = doc.is_object() ? doc.find(key) : doc.end();
    return doc.is_object() && it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

#ifndef SHMPOOL_PYTHON
#define SHMPOOL_PYTHON "python3"
#endif

/// Runs the shell command `cmd` and returns what it printed on stdout, or "" (with a warning on
/// stderr naming `what`) when it cannot run or fails.
inline std::string run_command_output(const std::string& cmd, const std::string& what) {
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
    std::fprintf(stderr, "warning: %s failed (status %d); %s missing this round\n", cmd.c_str(),
                 status, what.c_str());
    return {};
}

/// Runs `PYTHON SCRIPT --json [--quick]` (the python3 with numpy found at configure time,
/// SHMPOOL_PYTHON) and returns what it printed, or "" (with a warning on stderr) when it cannot
/// run or fails: that round then has no Python baseline.
inline std::string run_python_output(const std::string& script, bool quick) {
    const std::string cmd = std::string("'") + SHMPOOL_PYTHON + "' '" + script + "' --json" +
                            std::string(quick ? " --quick" : "");
    return run_command_output(cmd, "Python baselines");
}

/// The last line of `text` that is not empty.
inline std::string last_line(const std::string& text) {
    const std::size_t end = text.find_last_not_of("\r\n");
    if (end == std::string::npos) return {};
    const std::size_t newline = text.rfind('\n', end);
    const std::size_t begin = newline == std::string::npos ? 0 : newline + 1;
    return text.substr(begin, end + 1 - begin);
}

/// The JSON a Python baseline printed (its last line; the scripts print one), or null when it
/// did not run or printed no JSON (with a warning on stderr).
inline json run_python_json(const std::string& script, bool quick) {
    const std::string text = run_python_output(script, quick);
    if (text.empty()) return nullptr;
    json doc = json::parse(last_line(text), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        std::fprintf(stderr, "warning: cannot parse the output of %s: %s\n", script.c_str(),
                     text.c_str());
        return nullptr;
    }
    return doc;
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

/// The names of the arrays a benchmark creates: each is removed by remove(), and whatever is
/// left when the guard goes out of scope, even on an exception.
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
