// bench/frozen: the shmpool side. The store is built with frozen_builder (strings "key",
// ragged<float> "values", index "by_key" over "key") and published under a name of /dev/shm;
// the lookup children open it by name; the C++ row sums read it in this process.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <shmpool/frozen_builder.hpp>
#include <stdexcept>

#include "frozen_bench.hpp"

namespace frozen_bench {

build_result build_frozen(const workload& w, const std::string& name) {
    shmpool::frozen_builder b;
    auto keys = b.strings("key");
    auto values = b.ragged<float>("values");
    b.index("by_key", "key");
    shmpool::create_options opts;
    opts.show_progress = shmpool::progress::never;
    build_result r;
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < w.n; ++i) {
        keys.push_back(w.key(i));
        values.push_back(w.value(i));
    }
    const auto publish_start = clock_type::now();
    const shmpool::frozen store = b.publish(name, opts);
    r.publish_seconds = seconds_since(publish_start);
    r.seconds = seconds_since(start);
    struct stat st {};
    if (::stat(store.path().c_str(), &st) != 0)
        throw std::runtime_error("stat " + store.path() + ": " + std::strerror(errno));
    r.bytes = static_cast<double>(st.st_size);
    r.path = store.path();
    char buf[160];
    for (const shmpool::frozen_column_info& c : store.columns()) {
        std::snprintf(buf, sizeof buf, "%s%s (%s) %.2f MB", r.columns.empty() ? "" : ", ",
                      c.name.c_str(), c.kind.c_str(), static_cast<double>(c.bytes) * 1e-6);
        r.columns += buf;
    }
    if (store.rows() != w.n) throw std::runtime_error("frozen store: wrong number of rows");
    return r;
}

lookup_loop frozen_lookups(const std::string& name) {
    const shmpool::frozen store = shmpool::frozen::open(name);
    const shmpool::frozen_index index = store.index("by_key");  // the views, taken once
    const shmpool::frozen_ragged<float> values = store.ragged<float>("values");
    return [store, index, values](const key_list& keys) {
        checksum s;
        for (std::size_t k = 0, n = keys.size(); k < n; ++k)
            if (const auto row = index.find(keys[k])) s.add(values[*row]);
        return s;
    };
}

std::pair<double, double> frozen_row_sums(const std::string& name) {
    const shmpool::frozen store = shmpool::frozen::open(name);
    const shmpool::frozen_ragged<float> values = store.ragged<float>("values");
    std::vector<float> sums(store.rows());  // as row_sums() returns them: float32, one a row
    double best = std::numeric_limits<double>::infinity();
    for (int pass = 0; pass < 3; ++pass) {
        const auto start = clock_type::now();
        for (std::size_t r = 0, n = sums.size(); r < n; ++r) {
            const std::span<const float> row = values[r];
            sums[r] = std::accumulate(row.begin(), row.end(), 0.0f);
        }
        best = std::min(best, seconds_since(start));
    }
    return {best, std::accumulate(sums.begin(), sums.end(), 0.0)};
}

}  // namespace frozen_bench
