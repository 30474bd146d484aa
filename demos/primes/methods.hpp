// demos/primes: the eight methods (serial, the pools, the pool with each flag), the numbers they
// are run on, the shared objects the flags live in, and the cost of one poll of each flag.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <shmpool/process_pool.hpp>
#include <string>
#include <vector>

#include "flags.hpp"
#include "pool_search.hpp"
#include "search.hpp"

namespace primes {

enum method : std::size_t {
    m_serial,
    m_naive,
    m_less_naive,
    m_value,
    m_raw,
    m_file,
    m_event,
    m_cancel,
    method_count
};

struct method_info {
    const char* column;
    const char* description;
};

inline constexpr std::array<method_info, method_count> methods{{
    {"serial", "one process, every odd candidate in turn"},
    {"naive", "the pool over the ranges, each range runs to its end"},
    {"less_naive", "serial pre-check of small factors, then the pool, no flag"},
    {"value", "less_naive + flag: shmpool::value<bool>, its lock taken at each poll"},
    {"raw_value", "less_naive + flag: shmpool::raw_value<uint8_t>, relaxed atomic load"},
    {"mmap", "less_naive + flag: a byte of a file-backed .npy mapping, atomic_ref load"},
    {"event", "less_naive + flag: a shmpool::event in a shared array, is_set()"},
    {"cancel", "less_naive + the pool's cancel_call(), others poll call_cancelled()"},
}};

constexpr bool is_flag(std::size_t m) { return m >= m_value; }

/// The book's numbers and what the book says they are.
extern const std::map<u64, bool> book_is_prime;
extern const std::vector<u64> book_numbers;
/// Small enough for a smoke test (--quick).
extern const std::vector<u64> quick_numbers;

/// The command line.
struct settings {
    std::size_t workers = 4;  // also the ranges the candidates are split into
    u64 check_every = 1000, precheck = 10000;
    int repeat = 3;
    std::vector<u64> numbers;
    bool quick = false;
};

/// Removes the shared objects this demo made, on every way out of main().
struct cleanup {
    std::vector<std::string> shm_names;
    std::string file;
    ~cleanup();
};

/// What the pool methods share with the workers: the per-range results and the flags.
struct shared_objects {
    range_results out;
    value_flag vflag;
    raw_flag rflag;
    file_flag fflag;
    event_flag eflag;
};

/// Creates the shared objects (names tagged with `tag`), each name recorded in `made` before
/// its object is made, so that a failure part way removes what was made.
shared_objects make_shared_objects(std::size_t workers, const std::string& tag, cleanup& made);

/// Runs method `m` on n.
answer run_method(std::size_t m, u64 n, shmpool::process_pool& pool, const shared_objects& objs,
                  const settings& s);

constexpr std::size_t flag_count = 5;  // value, raw_value, mmap, event, cancel

/// Measured in a worker: nanoseconds per candidate tested and per poll of each flag.
struct poll_costs {
    double candidate_ns = 0;
    std::array<double, flag_count> poll_ns{};
};

/// The cost of one poll of each flag and of one candidate, measured in a worker: what a flag
/// costs without the noise of scheduling 4 workers on a busy machine.
poll_costs measure_poll_costs(shmpool::process_pool& pool, const shared_objects& objs);

}  // namespace primes
