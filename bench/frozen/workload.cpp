// bench/frozen: the workload (keys and values, generated before anything is timed), the random
// key lists of the lookups, and the lookup children: forked, prepared, let go together at a gate,
// timed from the gate to the last one's end.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

#include "frozen_bench.hpp"

namespace frozen_bench {

workload make_workload(std::size_t n) {
    workload w;
    w.n = n;
    w.key_offsets.reserve(n + 1);
    w.value_offsets.reserve(n + 1);
    w.key_offsets.push_back(0);
    w.value_offsets.push_back(0);
    w.key_text.reserve(n * 10);
    w.values.reserve(n * 16 + 32);
    char buf[32];
    for (std::size_t i = 0; i < n; ++i) {
        const int len = std::snprintf(buf, sizeof buf, "key%07zu", i);
        w.key_text.insert(w.key_text.end(), buf, buf + len);
        w.key_offsets.push_back(w.key_text.size());
        for (std::size_t j = 0; j < i % 33; ++j) w.values.push_back(static_cast<float>((i + j) % 1000));
        w.value_offsets.push_back(w.values.size());
    }
    w.payload = w.key_text.size() + w.values.size() * sizeof(float);
    return w;
}

key_list random_keys(const workload& w, std::size_t count, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<std::size_t> pick(0, w.n - 1);
    key_list l;
    l.text.reserve(count * 10);
    l.offsets.reserve(count + 1);
    l.offsets.push_back(0);
    for (std::size_t k = 0; k < count; ++k) {
        const std::string_view key = w.key(pick(gen));
        l.text.insert(l.text.end(), key.begin(), key.end());
        l.offsets.push_back(static_cast<std::uint32_t>(l.text.size()));
    }
    return l;
}

namespace {

// What a child writes on the results pipe (one write, well under PIPE_BUF: atomic).
struct child_report {
    std::int64_t start_ns, end_ns;
    std::uint64_t sum, found, child;
};

std::int64_t now_ns() {  // CLOCK_MONOTONIC: the same clock in every process
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

void write_all(int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t k = ::write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
        c += k, n -= static_cast<std::size_t>(k);
    }
}

// Reads up to n bytes; fewer only at end of file (every writer gone).
std::size_t read_full(int fd, void* p, std::size_t n) {
    char* c = static_cast<char*>(p);
    std::size_t got = 0;
    while (got < n) {
        const ssize_t k = ::read(fd, c + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += static_cast<std::size_t>(k);
    }
    return got;
}

// The pipes and children of one measurement: on any exit, the parent's ends are closed (a child
// waiting at the gate then reads end of file and gives up) and every child is waited for.
struct children {
    int ready[2] = {-1, -1}, go[2] = {-1, -1}, results[2] = {-1, -1};
    std::vector<pid_t> pids;
    bool failed = false;

    children() {
        if (::pipe(ready) != 0 || ::pipe(go) != 0 || ::pipe(results) != 0)
            throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    static void close_fd(int& fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    void close_all() {
        for (int* fd : {&ready[0], &ready[1], &go[0], &go[1], &results[0], &results[1]})
            close_fd(*fd);
    }
    // Waits for every child; true if all exited with status 0.
    bool wait_all() {
        close_all();
        bool ok = true;
        for (pid_t pid : pids) {
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        pids.clear();
        return ok;
    }
    ~children() { wait_all(); }
};

}  // namespace

lookup_result run_lookups(const workload& w, std::size_t lookups, int count,
                          const lookup_prepare& prepare) {
    children c;
    for (int k = 0; k < count; ++k) {
        c.pids.push_back(fork_child([&w, &c, &prepare, lookups, k] {
            children::close_fd(c.go[1]);  // else the gate never reads end of file
            children::close_fd(c.ready[0]);
            children::close_fd(c.results[0]);
            const lookup_loop loop = prepare();
            const key_list keys = random_keys(w, lookups, 1000 + static_cast<std::uint32_t>(k));
            char byte = 1;
            write_all(c.ready[1], &byte, 1);
            children::close_fd(c.ready[1]);
            if (read_full(c.go[0], &byte, 1) != 1) throw std::runtime_error("no go: gave up");
            const std::int64_t start = now_ns();
            const checksum s = loop(keys);
            const child_report r{start, now_ns(), s.sum, s.found, static_cast<std::uint64_t>(k)};
            write_all(c.results[1], &r, sizeof r);
        }));
    }
    children::close_fd(c.ready[1]);
    children::close_fd(c.go[0]);
    children::close_fd(c.results[1]);
    std::vector<char> bytes(static_cast<std::size_t>(count));
    if (read_full(c.ready[0], bytes.data(), bytes.size()) != bytes.size()) {
        c.wait_all();
        throw std::runtime_error("a lookup child failed before the gate (see above)");
    }
    write_all(c.go[1], bytes.data(), bytes.size());  // the gate: every child reads one byte
    children::close_fd(c.go[1]);
    std::vector<child_report> reports(static_cast<std::size_t>(count));
    const std::size_t want = reports.size() * sizeof(child_report);
    const std::size_t got = read_full(c.results[0], reports.data(), want);
    if (!c.wait_all() || got != want) throw std::runtime_error("a lookup child failed (see above)");
    lookup_result out;
    std::int64_t first = reports[0].start_ns, last = reports[0].end_ns;
    out.child_sums.assign(reports.size(), 0);
    for (const child_report& r : reports) {
        first = std::min(first, r.start_ns);
        last = std::max(last, r.end_ns);
        out.sum += r.sum;
        out.found += r.found;
        out.child_sums[r.child] = r.sum;
    }
    out.wall = static_cast<double>(last - first) * 1e-9;
    return out;
}

}  // namespace frozen_bench
