// bench/pool: what /proc says about each worker's memory (smaps_rollup and smaps). The page
// faults and the release of removed arrays are in ../worker_stats.hpp (shared with
// bench/first_day).
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "pool.hpp"

namespace pool_bench {
namespace {

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
