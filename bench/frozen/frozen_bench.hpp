// bench/frozen: what its files share. The program (main.cpp says what it measures) builds the
// same key -> float-vector workload (workload.cpp) as a frozen store (frozen_side.cpp) and as a
// boost::unordered_map in a Boost.Interprocess managed_mapped_file (boost_side.cpp, the only
// file that includes Boost), looks keys up from 2 forked processes at a time (workload.cpp runs
// them, each side gives the loop), and sums every ragged row from Python (python_side.cpp)
// against the same sums in C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <shmpool/frozen.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.hpp"

namespace frozen_bench {

using namespace bench;

// ---- the workload ----------------------------------------------------------------------------

/// Key i is "key%07d"; its value is (i % 33) float32, value j being (i + j) % 1000 (small
/// integers: every sum is exact in float and double alike).
struct workload {
    std::size_t n = 0;
    std::vector<char> key_text;               // every key, back to back
    std::vector<std::uint64_t> key_offsets;   // n + 1
    std::vector<float> values;                // every row's values, back to back
    std::vector<std::uint64_t> value_offsets; // n + 1
    std::size_t payload = 0;                  // key bytes + value bytes

    std::string_view key(std::size_t i) const {
        return {key_text.data() + key_offsets[i], key_offsets[i + 1] - key_offsets[i]};
    }
    std::span<const float> value(std::size_t i) const {
        return {values.data() + value_offsets[i], value_offsets[i + 1] - value_offsets[i]};
    }
};
workload make_workload(std::size_t n);

/// Keys to look up, in the order of the lookups, back to back (two sequential streams: reading
/// the list costs both sides the same and little).
struct key_list {
    std::vector<char> text;
    std::vector<std::uint32_t> offsets;  // size() + 1
    std::size_t size() const { return offsets.size() - 1; }
    std::string_view operator[](std::size_t k) const {
        return {text.data() + offsets[k], offsets[k + 1] - offsets[k]};
    }
};
/// `count` keys of `w` drawn uniformly by std::mt19937(seed).
key_list random_keys(const workload& w, std::size_t count, std::uint32_t seed);

/// What a lookup loop adds up: for each key found, its row's length plus its first value (if
/// any), so that the lookup and the read of the value cannot be left out.
struct checksum {
    std::uint64_t sum = 0, found = 0;
    void add(std::span<const float> row) {
        sum += row.size() + (row.empty() ? 0 : static_cast<std::uint64_t>(row[0]));
        ++found;
    }
};

/// A side's lookups in a child: `prepare` runs there first (opens the store, takes the views:
/// not timed) and returns the loop, which is timed over the whole list.
using lookup_loop = std::function<checksum(const key_list&)>;
using lookup_prepare = std::function<lookup_loop()>;

struct lookup_result {
    double wall = no_value;  // s, from the gate opening to the last child's end
    std::uint64_t sum = 0, found = 0;
    std::vector<std::uint64_t> child_sums;  // per child: compared between the sides
};
/// Forks `children` processes (bench::fork_child) that each prepare, build their list of
/// `lookups` keys (seed 1000 + child), wait at a gate, then run the loop; returns the wall time
/// of all. Throws std::runtime_error when a child fails.
lookup_result run_lookups(const workload& w, std::size_t lookups, int children,
                          const lookup_prepare& prepare);

// ---- the sides -------------------------------------------------------------------------------

struct build_result {
    double seconds = no_value;          // the whole build
    double publish_seconds = no_value;  // frozen: of which publish()
    double bytes = no_value;            // frozen: the file; Boost: used bytes of the segment
    std::string path;                   // frozen: the store's file
    std::string columns;                // frozen: each column's bytes, as text
};

/// frozen_builder: strings "key", ragged<float> "values", index "by_key" over "key"; timed from
/// the first push_back to publish() returning.
build_result build_frozen(const workload& w, const std::string& name);
lookup_loop frozen_lookups(const std::string& name);  // opens the store: call in the child
/// Every row of "values" summed in C++ (a loop over the rows, each span summed in double):
/// the best of 3 times, and the total of the sums.
std::pair<double, double> frozen_row_sums(const std::string& name);

/// Whether the Boost baseline is built in (Boost found at configure time); without it the
/// functions below throw std::logic_error.
extern const bool have_boost;
/// boost::unordered_map<shm_string, shm_vector<float>> in a managed_mapped_file at `path`
/// (4 x payload + 64 MiB), timed from creating the file to the last insertion.
build_result build_boost(const workload& w, const std::string& path);
lookup_loop boost_lookups(const std::string& path);  // opens the file read-only: in the child

// ---- the Python side -------------------------------------------------------------------------

struct python_sums {
    double seconds = no_value;  // best of 3
    double total = no_value;    // of the sums
    std::string numpy;          // its version
};
/// Runs SHMPOOL_PYTHON on a snippet timing shmpool_frozen.open(path).ragged("values").row_sums()
/// (PYTHONPATH=SHMPOOL_SOURCE_DIR/python); NaN seconds when it cannot run (a warning says why).
python_sums run_python_sums(const std::string& path);

}  // namespace frozen_bench
