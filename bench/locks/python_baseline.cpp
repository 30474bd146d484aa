// bench/locks: the Python baseline, bench/python_counters.py, run once a round with the python3
// found at configure time (SHMPOOL_PYTHON); its JSON gives the Python side of every figure.
#include <cmath>
#include <cstdio>
#include <string>

#include "locks.hpp"

#ifndef SHMPOOL_SOURCE_DIR
#error "bench/CMakeLists.txt defines SHMPOOL_SOURCE_DIR (where bench/python_counters.py lives)"
#endif

namespace locks {
namespace {

struct py_counter {
    double per_increment_ns = no_value, seconds = no_value, count = no_value;
};
struct py_rates {
    double uncontended = no_value, contended = no_value;
};
struct python_figures {
    py_counter value, value_book, rawvalue, file, file_truncate, file_book;
    py_rates lock, sem, flock;
    std::string version;
};

py_counter counter_at(const json& py, const char* key) {
    return {number_at(py, {key, "per_increment_ns"}), number_at(py, {key, "seconds"}),
            number_at(py, {key, "count"})};
}

py_rates rates_at(const json& py, const char* key) {
    return {number_at(py, {"lock_rates", key, "uncontended"}),
            number_at(py, {"lock_rates", key, "contended"})};
}

python_figures run_python(bool quick) {
    python_figures out;
    const json py = run_python_json(SHMPOOL_SOURCE_DIR "/bench/python_counters.py", quick);
    if (py.is_null()) return out;
    out.value = counter_at(py, "value");
    out.value_book = counter_at(py, "value_book");
    out.rawvalue = counter_at(py, "rawvalue");
    out.file = counter_at(py, "file");
    out.file_truncate = counter_at(py, "file_truncate");
    out.file_book = counter_at(py, "file_book");
    out.lock = rates_at(py, "multiprocessing.Lock");
    out.sem = rates_at(py, "multiprocessing.Semaphore");
    out.flock = rates_at(py, "fcntl.flock");
    out.version = string_at(py, "python");
    if (std::isnan(out.value.per_increment_ns) || std::isnan(out.flock.contended))
        std::fprintf(stderr, "warning: cannot parse the output of bench/python_counters.py: %s\n",
                     py.dump().c_str());
    return out;
}

}  // namespace

void python_step(const context& ctx, all_series& s) {
    const python_figures py = run_python(ctx.quick);
    counter_series& c = s.counters;
    c.py_value.values.push_back(py.value.per_increment_ns);
    c.py_book.values.push_back(py.value_book.per_increment_ns / 1e3);
    c.py_book_ms.values.push_back(py.value_book.seconds * 1e3);
    c.py_raw.values.push_back(py.rawvalue.per_increment_ns);
    file_series& f = s.files;
    f.py_file.values.push_back(py.file.per_increment_ns / 1e3);
    f.py_file_tr.values.push_back(py.file_truncate.per_increment_ns / 1e3);
    f.py_file_book.values.push_back(py.file_book.per_increment_ns / 1e3);
    rate_series& r = s.rates;
    r.py_lock_1.values.push_back(py.lock.uncontended);
    r.py_lock_4.values.push_back(py.lock.contended);
    r.py_sem_1.values.push_back(py.sem.uncontended);
    r.py_sem_4.values.push_back(py.sem.contended);
    r.py_flock_1.values.push_back(py.flock.uncontended);
    r.py_flock_4.values.push_back(py.flock.contended);
    if (!std::isnan(py.value.count)) s.python.value_count = py.value.count;
    if (!std::isnan(py.value_book.count)) s.python.book_count = py.value_book.count;
    if (!std::isnan(py.file.count)) s.python.file_count = py.file.count;
    if (!py.version.empty()) s.python.version = py.version;
}

}  // namespace locks
