// The frozen benchmark: shmpool::frozen, the read-only column store, on the reference
// workload: 1,000,000 keys "key%07d" (--keys; --quick 100,000), the value of key i a vector of
// (i % 33) float32 (mean 16: about 74 MB of payload, key bytes + value bytes), against a
// boost::unordered_map<shm_string, shm_vector<float>> in a Boost.Interprocess
// managed_mapped_file of /dev/shm (Boost.Interprocess basic_string and vector with the
// segment's allocator), measured in the same run, interleaved round by round (the order
// alternates), median/min/max over the rounds (3; --quick 2):
//
//   1. build     frozen_builder (strings "key", ragged<float> "values", index "by_key" over "key")
//                from the first push_back to publish() returning, in s per million keys, against
//                building the Boost map (file created, map constructed with its bucket count, every
//                key inserted) (target: <= 0.6 s per million keys);
//   2. size      the store's file bytes / payload (target: <= 1.4x), Boost's used bytes
//                (get_size() - get_free_memory()) / payload beside it;
//   3. lookups   2 forked processes, each opening the store (or the Boost file, read-only) and
//                looking up 2,000,000 (--lookups; --quick 200,000) random existing keys
//                (std::mt19937, a fixed seed per process), reading each value row; total lookups
//                / wall time of both (target: frozen >= 1.5x Boost; the checksums must agree);
//   4. Python    shmpool_frozen (numpy views) summing every ragged row, row_sums(), against the
//                same sums in C++ in this process (a loop over the rows): ratio = C++ time /
//                Python time (target: within 2x, ratio >= 0.5x).
//
// Ratios read "times better than the baseline" (value / baseline for rates, baseline / value
// for times and sizes): > 1 means the measured side is ahead. Targets are reported, not
// asserted. Everything created in /dev/shm is removed each round, and at the end on an error.
//
//   frozen [--rounds 3] [--quick] [--json FILE] [--keys N] [--lookups N]
#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <shmpool/process_pool.hpp>
#include <string>
#include <vector>

#include "frozen_bench.hpp"

namespace frozen_bench {
namespace {

struct options {
    run_options run;
    std::size_t keys = 1'000'000;
    std::size_t lookups = 2'000'000;
};
constexpr int lookup_processes = 2;
constexpr int name_width = 52, base_width = 52;

options parse(int argc, char** argv) {
    options o;
    o.run.rounds = 3;
    CLI::App app{"frozen: shmpool::frozen against a boost::unordered_map in a managed_mapped_file"};
    add_run_options(app, o.run);
    app.add_option("--keys", o.keys, "keys of the store (1000000; --quick 100000)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}));
    app.add_option("--lookups", o.lookups, "lookups by each of the 2 processes (2000000; --quick 200000)")
        ->check(CLI::PositiveNumber);
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (!o.run.rounds_given) o.run.rounds = 2;
        if (app.count("--keys") == 0) o.keys = 100'000;
        if (app.count("--lookups") == 0) o.lookups = 200'000;
    }
    return o;
}

double load_average() {
    double l[1] = {no_value};
    return ::getloadavg(l, 1) == 1 ? l[0] : no_value;
}

// The entries of /dev/shm this process made (its names all hold "shmpool_bench_frozen" and
// its PID) that are still there.
std::vector<std::string> left_in_shm() {
    const std::string pid = "_" + std::to_string(::getpid()) + "_";
    std::vector<std::string> left;
    if (DIR* d = ::opendir("/dev/shm")) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name.find("shmpool_bench_frozen") != std::string::npos &&
                name.find(pid) != std::string::npos)
                left.push_back(name);
        }
        ::closedir(d);
    }
    return left;
}

// What this program puts in /dev/shm: removed when the round is done, and at the end whatever
// is left (an exception mid-round).
struct shm_guard {
    std::vector<std::string> stores, files;
    void remove_all() noexcept {
        for (const std::string& s : stores) try {
                shmpool::frozen::remove(s);
            } catch (...) {
            }
        for (const std::string& f : files) ::unlink(f.c_str());
        stores.clear(), files.clear();
    }
    ~shm_guard() { remove_all(); }
};

struct all_series {
    series boost_build{"Boost: build (create file, insert every key)", "s/M keys", false, {}};
    series frozen_build{"frozen_builder: push_back x N + publish()", "s/M keys", false, {}};
    series frozen_publish{"frozen: of which publish()", "s/M keys", false, {}};
    series boost_size{"Boost: used bytes / payload", "x", false, {}};
    series frozen_size{"frozen: file bytes / payload", "x", false, {}};
    series boost_mb{"Boost: used bytes", "MB", false, {}};
    series frozen_mb{"frozen: file bytes", "MB", false, {}};
    series boost_rate{"Boost: find(string_view, hash, eq) + value", "lookups/s", true, {}};
    series frozen_rate{"frozen: index.find + ragged[row]", "lookups/s", true, {}};
    series cpp_sums{"C++: every row, span sum (best of 3)", "ms", false, {}};
    series py_sums{"Python: ragged(\"values\").row_sums() (best of 3)", "ms", false, {}};
    std::string numpy;
};

void round_step(const options& o, const workload& w, int round, all_series& s) {
    const auto start = clock_type::now();
    const bool frozen_first = round % 2 == 0;
    const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(round);
    const std::string store = "shmpool_bench_frozen_" + tag;
    const std::string file = "/dev/shm/shmpool_bench_frozen_boost_" + tag;
    shm_guard guard;
    guard.stores.push_back(store);
    guard.files.push_back(file);
    const double per_m = 1e6 / static_cast<double>(w.n), mb = 1e-6;
    const auto payload = static_cast<double>(w.payload);
    const std::size_t total_lookups = o.lookups * lookup_processes;
    const auto rate = [&](const lookup_result& r) { return static_cast<double>(total_lookups) / r.wall; };
    lookup_result fl, bl;
    std::string path;  // the store's file, for Python
    for (int k = 0; k < 2; ++k) {  // 1, 2: build (and size)
        if ((k == 0) == frozen_first) {
            const build_result b = build_frozen(w, store);
            s.frozen_build.values.push_back(b.seconds * per_m);
            s.frozen_publish.values.push_back(b.publish_seconds * per_m);
            s.frozen_size.values.push_back(b.bytes / payload);
            s.frozen_mb.values.push_back(b.bytes * mb);
            path = b.path;
            if (round == 0) std::printf("frozen store: %s\n", b.columns.c_str());
        } else if (have_boost) {
            const build_result b = build_boost(w, file);
            s.boost_build.values.push_back(b.seconds * per_m);
            s.boost_size.values.push_back(b.bytes / payload);
            s.boost_mb.values.push_back(b.bytes * mb);
        }
    }
    for (int k = 0; k < 2; ++k) {  // 3: lookups
        if ((k == 0) == frozen_first) {
            fl = run_lookups(w, o.lookups, lookup_processes, [&] { return frozen_lookups(store); });
            s.frozen_rate.values.push_back(rate(fl));
        } else if (have_boost) {
            bl = run_lookups(w, o.lookups, lookup_processes, [&] { return boost_lookups(file); });
            s.boost_rate.values.push_back(rate(bl));
        }
    }
    if (fl.found != total_lookups) throw std::runtime_error("frozen: a key was not found");
    if (have_boost && (bl.found != total_lookups || bl.child_sums != fl.child_sums))
        throw std::runtime_error("the checksums of frozen and Boost differ");
    std::pair<double, double> cpp{no_value, no_value};
    python_sums py;
    for (int k = 0; k < 2; ++k) {  // 4: every row summed
        if ((k == 0) == frozen_first)
            cpp = frozen_row_sums(store);
        else
            py = run_python_sums(path);
    }
    // Both sum each row in float32 (numpy's pairwise order, C++'s sequential one): 1e-6.
    if (!std::isnan(py.total) && std::fabs(py.total - cpp.second) > 1e-6 * std::fabs(cpp.second))
        throw std::runtime_error("the row sums of Python and C++ differ");
    s.cpp_sums.values.push_back(cpp.first * 1e3);
    s.py_sums.values.push_back(py.seconds * 1e3);
    if (!py.numpy.empty()) s.numpy = py.numpy;
    guard.remove_all();
    std::printf("round %d/%d (%s first): build %.3f / %.3f s, lookups %.3g / %.3g M/s, sums %.1f / "
                "%.1f ms (frozen / Boost, C++ / Python); load %.2f; %.1f s\n",
                round + 1, o.run.rounds, frozen_first ? "frozen" : "Boost",
                s.frozen_build.values.back() / per_m,
                have_boost ? s.boost_build.values.back() / per_m : no_value, rate(fl) * 1e-6,
                have_boost ? rate(bl) * 1e-6 : no_value, cpp.first * 1e3, py.seconds * 1e3,
                load_average(), seconds_since(start));
    std::fflush(stdout);
}

const std::string build_section = "1. build, s per million keys";
const std::string size_section = "2. size, bytes / payload (key bytes + value bytes)";
const std::string lookup_section = "3. lookups of random existing keys from 2 processes";
const std::string python_section = "4. every ragged row summed: Python (numpy views) against C++";

void report(all_series& s) {
    const series* boost_build = have_boost ? &s.boost_build : nullptr;
    if (have_boost) add_figure(build_section, s.boost_build);
    figure& b = add_figure(build_section, s.frozen_build, boost_build);
    set_target(b, "<= 0.6 s/M", b.st.median, 0.6, false);
    add_figure(build_section, s.frozen_publish);
    if (have_boost) add_figure(size_section, s.boost_size);
    figure& z = add_figure(size_section, s.frozen_size, have_boost ? &s.boost_size : nullptr);
    set_target(z, "<= 1.4x", z.st.median, 1.4, false);
    if (have_boost) add_figure(size_section, s.boost_mb);
    add_figure(size_section, s.frozen_mb, have_boost ? &s.boost_mb : nullptr);
    if (have_boost) add_figure(lookup_section, s.boost_rate);
    figure& l = add_figure(lookup_section, s.frozen_rate, have_boost ? &s.boost_rate : nullptr);
    set_target(l, ">= 1.5x", l.ratio, 1.5, true);
    add_figure(python_section, s.cpp_sums);
    figure& p = add_figure(python_section, s.py_sums, &s.cpp_sums);
    set_target(p, "within 2x (>= 0.5x)", p.ratio, 0.5, true);
    for (const std::string* sec : {&build_section, &size_section, &lookup_section, &python_section})
        print_section(*sec, name_width, base_width);
}

}  // namespace
}  // namespace frozen_bench

int main(int argc, char** argv) try {
    using namespace frozen_bench;
    const options o = parse(argc, argv);
    const auto started = clock_type::now();
    const double load_start = load_average();
    const workload w = make_workload(o.keys);
    std::printf("shmpool frozen benchmark: %d rounds, interleaved; %zu keys, payload %.1f MB (%.1f MB "
                "of keys, %.1f MB of values); %d processes x %zu lookups; %zu usable cores, load "
                "average %.2f\n",
                o.run.rounds, w.n, w.payload * 1e-6, w.key_text.size() * 1e-6,
                w.values.size() * 4e-6, lookup_processes, o.lookups,
                shmpool::process_pool::usable_cores(), load_start);
    if (!have_boost) std::printf("Boost was not found at configure time: no Boost baseline\n");
    std::printf("ratio = times better than the baseline (value/baseline for rates, baseline/value "
                "for times and sizes); figure 4: C++ time / Python time\n");
    all_series s;
    for (int r = 0; r < o.run.rounds; ++r) round_step(o, w, r, s);
    report(s);
    const double load_end = load_average();
    const std::vector<std::string> left = left_in_shm();
    for (const std::string& name : left)
        std::fprintf(stderr, "warning: left in /dev/shm: %s\n", name.c_str());
    std::printf("\ntotal %.1f s; load average %.2f at the start, %.2f at the end%s\n",
                seconds_since(started), load_start, load_end,
                left.empty() ? "; nothing left in /dev/shm" : "");
    if (!o.run.json.empty()) {
        const json_config config{{"keys", w.n},
                                 {"lookups_per_process", o.lookups},
                                 {"processes", lookup_processes},
                                 {"payload_bytes", w.payload},
                                 {"rounds", o.run.rounds},
                                 {"quick", o.run.quick},
                                 {"boost", have_boost},
                                 {"numpy", s.numpy},
                                 {"load_start", json_number(load_start)},
                                 {"load_end", json_number(load_end)},
                                 {"seconds", json_number(seconds_since(started))}};
        write_json_file(o.run.json,
                        figures_document("frozen", config,
                                         "times better than the baseline (value/baseline for "
                                         "rates, baseline/value for times and sizes)"));
        std::printf("wrote %s\n", o.run.json.c_str());
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "frozen: %s\n", e.what());
    return 1;
}
