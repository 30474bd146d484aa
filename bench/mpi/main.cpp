// The MPI benchmark: the overhead of shmpool::mpi's layer over one host's pool, on this machine.
//
//   1. fill    2 simulated hosts x 1 rank, 2 workers each, for_each_row filling a distributed
//              array of 2 x 1 GiB (float64, 1 MiB rows), warm (a first pass touched every page
//              in the workers), against one single-host pool of 4 workers filling a 2 GiB
//              shared array the same way (target: >= 0.9x its GB/s);
//   2. round trip  for_each_row of empty tasks over the 2 hosts, against the single-host pool's
//              for_each of empty tasks over the same rows, and MPI_Allreduce of one int (the
//              floor of any collective call).
//
// Both sides run as programs of their own, interleaved round by round: this program in mode
// `single`, and in mode `cluster` under scripts/mpi/simulated-hosts (their arrays in a directory
// of /dev/shm, tmpfs like the single host's). Each prints one JSON line (rank 0 for the
// cluster); this driver prints the median, min and max over the rounds and the ratios.
//
//   mpi [--rounds 5] [--quick] [--json FILE] [--gib-per-host 1] [--calls 2000]
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <shmpool/mpi.hpp>
#include <shmpool/shmpool.hpp>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace bench;

constexpr std::size_t row_doubles = 131072;  // 1 MiB rows
constexpr int timed_passes = 3;

struct options {
    run_options run;
    double gib_per_host = 1;
    std::size_t calls = 2000;
    std::string mode = "driver";
};

struct measured {
    double fill_gbs = no_value, empty_us = no_value, allreduce_us = no_value;
};

std::size_t rows_per_host(const options& o) {
    return std::max<std::size_t>(2, static_cast<std::size_t>(o.gib_per_host * 1024));
}

// Runs `pass` (one fill of `bytes`) once to warm up, then timed_passes times: the best GB/s
// of the timed passes.
template <class Pass>
double fill_rate(std::size_t bytes, Pass pass) {
    pass(0.0);
    double best = 0;
    for (int k = 1; k <= timed_passes; ++k) {
        const auto start = clock_type::now();
        pass(static_cast<double>(k));
        best = std::max(best, static_cast<double>(bytes) / seconds_since(start) / 1e9);
    }
    return best;
}

template <class Call>
double microseconds_per_call(std::size_t calls, Call call) {
    call();
    const auto start = clock_type::now();
    for (std::size_t k = 0; k < calls; ++k) call();
    return seconds_since(start) * 1e6 / static_cast<double>(calls);
}

void print_line(const measured& m) {
    std::printf("{\"fill_gbs\": %.6g, \"empty_us\": %.6g, \"allreduce_us\": %.6g}\n", m.fill_gbs,
                m.empty_us, std::isnan(m.allreduce_us) ? -1.0 : m.allreduce_us);
}

int run_single(const options& o) {
    shmpool::process_pool pool(4);
    const std::size_t rows = 2 * rows_per_host(o);
    const std::string name = "shmpool_bench_mpi_single_" + std::to_string(::getpid());
    auto g = shmpool::shared_array<double>::create(name, {rows, row_doubles});
    measured m;
    m.fill_gbs = fill_rate(g.size() * sizeof(double), [&](double v) {
        pool.for_each(0, rows, [g, v](std::size_t r) { g.row(r).fill(v); });
    });
    m.empty_us = microseconds_per_call(o.calls, [&] { pool.for_each(0, rows, [](std::size_t) {}); });
    shmpool::shared_array<double>::remove(name);
    print_line(m);
    return 0;
}

int run_cluster(int argc, char** argv, const options& o) {
    shmpool::mpi::cluster c(argc, argv, {.workers = 2});
    const std::string name = "shmpool_bench_mpi_cluster";
    auto a = shmpool::mpi::row_array<double>::create(
        c, name, {rows_per_host(o) * static_cast<std::size_t>(c.hosts()), row_doubles});
    measured m;
    m.fill_gbs = fill_rate(a.rows() * row_doubles * sizeof(double), [&](double v) {
        c.barrier();  // every rank starts together; for_each_row returns when all are done
        shmpool::mpi::for_each_row(c, a, [a, v](std::size_t r) { a.row(r).fill(v); });
    });
    m.empty_us = microseconds_per_call(
        o.calls, [&] { shmpool::mpi::for_each_row(c, a, [](std::size_t) {}); });
    m.allreduce_us = microseconds_per_call(o.calls, [&] {
        int one = 1, sum = 0;
        MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, c.comm());
    });
    if (c.rank() == 0) print_line(m);
    return 0;
}

measured parse_line(const std::string& text) {
    measured m;
    const json doc = json::parse(last_line(text), nullptr, false);
    if (doc.is_discarded()) return m;
    m.fill_gbs = number_at(doc, {"fill_gbs"});
    m.empty_us = number_at(doc, {"empty_us"});
    const double a = number_at(doc, {"allreduce_us"});
    m.allreduce_us = a < 0 ? no_value : a;
    return m;
}

std::string self_command(const options& o, const std::string& mode, const std::string& self) {
    return "'" + self + "' --mode " + mode + " --gib-per-host " + std::to_string(o.gib_per_host) +
           " --calls " + std::to_string(o.calls);
}

int run_driver(const options& o, const std::string& self) {
    const std::string hosts_dir = "/dev/shm/shmpool-bench-mpi-" + std::to_string(::getpid());
    const std::string cluster_cmd = std::string("'") + SHMPOOL_SOURCE_DIR +
                                    "/scripts/mpi/simulated-hosts' --hosts a:1,b:1 --root '" +
                                    hosts_dir + "' --timeout 600 " +
                                    self_command(o, "cluster", self);
    series single_fill{"single host: pool of 4 workers, for_each filling 2 x " +
                           number(o.gib_per_host) + " GiB", "GB/s", true, {}};
    series cluster_fill{"2 hosts x 1 rank x 2 workers: for_each_row", "GB/s", true, {}};
    series single_empty{"single host: for_each of empty tasks, 4 workers", "us", false, {}};
    series cluster_empty{"2 hosts: for_each_row of empty tasks", "us", false, {}};
    series allreduce{"2 hosts: MPI_Allreduce of one int", "us", false, {}};
    std::printf("shmpool mpi benchmark: %d rounds, interleaved; %.3g GiB per host, %zu calls\n",
                o.run.rounds, o.gib_per_host, o.calls);
    const std::string fill_section = "1. fill, warm, float64 rows of 1 MiB";
    const std::string trip_section = "2. round trip of a call of empty tasks (" + std::to_string(o.calls) + " calls)";
    for (int round = 1; round <= o.run.rounds; ++round) {
        const auto start = clock_type::now();
        const bool cluster_first = round % 2 == 0;
        measured s, c;
        for (int k = 0; k < 2; ++k) {
            if ((k == 0) == cluster_first)
                c = parse_line(run_command_output(cluster_cmd, "the cluster's figures"));
            else
                s = parse_line(run_command_output(self_command(o, "single", self), "the single host's figures"));
        }
        single_fill.values.push_back(s.fill_gbs);
        cluster_fill.values.push_back(c.fill_gbs);
        single_empty.values.push_back(s.empty_us);
        cluster_empty.values.push_back(c.empty_us);
        allreduce.values.push_back(c.allreduce_us);
        std::printf("round %d/%d: %.1f s\n", round, o.run.rounds, seconds_since(start));
    }
    add_figure(fill_section, single_fill);
    figure& f = add_figure(fill_section, cluster_fill, &single_fill);
    set_target(f, ">= 0.9x", f.ratio, 0.9, true);
    add_figure(trip_section, single_empty);
    add_figure(trip_section, allreduce);
    add_figure(trip_section, cluster_empty, &single_empty);
    std::printf("\n");
    print_section(fill_section, 52, 52);
    print_section(trip_section, 52, 52);
    if (!o.run.json.empty()) {
        write_json_file(o.run.json, figures_document("mpi", {{"gib_per_host", o.gib_per_host},
                                                              {"calls", o.calls},
                                                              {"rounds", o.run.rounds}}));
        std::printf("wrote %s\n", o.run.json.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"mpi: shmpool::mpi over 2 simulated hosts against one host's pool"};
    add_run_options(app, o.run);
    app.add_option("--gib-per-host", o.gib_per_host, "GiB of the array on each host (1; --quick 1/16)");
    app.add_option("--calls", o.calls, "calls timed for the round trips (2000; --quick 200)");
    app.add_option("--mode", o.mode, "driver (default), or the side it runs: single, cluster")
        ->check(CLI::IsMember({"driver", "single", "cluster"}));
    parse_run_options(app, o.run, argc, argv);
    if (o.run.quick) {
        if (!o.run.rounds_given) o.run.rounds = 2;
        if (app.count("--gib-per-host") == 0) o.gib_per_host = 1.0 / 16;
        if (app.count("--calls") == 0) o.calls = 200;
    }
    if (o.mode == "single") return run_single(o);
    if (o.mode == "cluster") return run_cluster(argc, argv, o);
    return run_driver(o, argv[0][0] == '/' ? argv[0] : std::string(::get_current_dir_name()) + "/" + argv[0]);
}
