// bench/pool: what /proc says about the processes of a run: the minor page faults of the pool's
// workers, of this process and of its reaped children; each worker's memory (smaps); and whether
// the workers still map an array the parent removed.
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "pool.hpp"

namespace pool_bench {
namespace {

// Minor page faults so far of one process (/proc/PID/stat field 10).
double minor_faults_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t paren = text.rfind(')');
    if (paren == std::string::npos) return no_value;
    std::istringstream fields(text.substr(paren + 1));
    std::string field;
    for (int i = 0; i < 8 && fields >> field; ++i) {
    }
    return std::strtod(field.c_str(), nullptr);  // the 8th after ')': minflt
}

// The "NAME: N kB" fields of a /proc/PID/smaps* file, each summed over the file.
std::map<std::string, double> read_kb_fields(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno) +
                                 " (reading another process's smaps needs ptrace-read access)");
    std::map<std::string, double> kb;
    std::string line;
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos || line.find(" kB") == std::string::npos) continue;
        kb[line.substr(0, colon)] += std::strtod(line.c_str() + colon + 1, nullptr);
    }
    if (kb.empty()) throw std::runtime_error(path + " holds no kB fields");
    return kb;
}

}  // namespace

double let_workers_release(shmpool::process_pool& pool, const std::string& name) {
    const shmpool::call_options quiet = quiet_options();
    double first_ms = no_value;
    for (int attempt = 0; attempt < 20 && any_worker_maps(pool, name); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        const auto t = clock_type::now();
        pool.for_each(
            0, pool.size(), [](std::size_t) {}, quiet);
        if (attempt == 0) first_ms = seconds_since(t) * 1e3;
    }
    if (any_worker_maps(pool, name))
        std::fprintf(stderr, "warning: the workers still map %s\n", name.c_str());
    return first_ms;
}

double worker_faults(const shmpool::process_pool& pool) {
    double n = 0;
    for (int pid : pool.worker_pids()) n += minor_faults_of(pid);
    return n;
}

double faults_of(int who) {
    rusage u{};
    ::getrusage(who, &u);
    return double(u.ru_minflt);
}

worker_memory memory_of(int pid) {
    const std::string dir = "/proc/" + std::to_string(pid) + "/";
    auto rollup = read_kb_fields(dir + "smaps_rollup");
    worker_memory m{};
    m.rss_kib = rollup["Rss"];
    m.pss_kib = rollup["Pss"];
    m.uss_kib = rollup["Private_Clean"] + rollup["Private_Dirty"];
    m.anonymous_kib = rollup["Anonymous"];
    // Private anonymous: per mapping, the private pages that are anonymous. smaps does not
    // split the two, so take min(Anonymous, Private_Clean + Private_Dirty) per mapping (exact
    // unless a mapping holds both private file pages and shared anonymous ones).
    std::ifstream in(dir + "smaps");
    if (!in) throw std::runtime_error("cannot read " + dir + "smaps: " + std::strerror(errno));
    std::string line;
    double anon = 0, priv = 0;
    const auto flush = [&] {
        m.private_anonymous_kib += std::min(anon, priv);
        anon = priv = 0;
    };
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos || line.find(" kB") == std::string::npos) {
            if (line.find('-') < line.find(' ')) flush();  // a new mapping's header line
            continue;
        }
        const std::string key = line.substr(0, colon);
        const double v = std::strtod(line.c_str() + colon + 1, nullptr);
        if (key == "Anonymous")
            anon += v;
        else if (key == "Private_Clean" || key == "Private_Dirty")
            priv += v;
    }
    flush();
    return m;
}

}  // namespace pool_bench
