// bench/fill_sweep: the baselines that run in forked children. OpenMP runs in a child forked for
// each measurement, so this process never starts an OpenMP team (a pool refuses to start in a
// process that runs threads); the fork-and-write baseline is what multiprocessing.Pool's fork
// does.
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fill_sweep.hpp"

namespace fill_sweep_bench {
namespace {

// A blocking waitpid, not shmpool::reap_child: fork_and_write times this wait, and reap_child
// polls (up to 20 ms apart).
void wait_for(pid_t kid, const char* what) {
    int status = 0;
    while (::waitpid(kid, &status, 0) < 0)
        if (errno != EINTR)
            throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(std::string(what) + " failed (status " + std::to_string(status) +
                                 ")");
}

}  // namespace

double omp_fill_in_child(double* p, std::size_t rows, std::size_t cols, int threads, double v,
                         double gb) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    std::fflush(nullptr);
    const pid_t kid = ::fork();
    if (kid < 0) throw std::runtime_error("fork failed");
    if (kid == 0) {
        ::close(fds[0]);
        const auto n = static_cast<std::ptrdiff_t>(rows);
        const auto fill = [&](double x) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (std::ptrdiff_t r = 0; r < n; ++r)
                std::fill_n(p + static_cast<std::size_t>(r) * cols, cols, x);
        };
        fill(v - 0.5);
        const auto t = clock_type::now();
        fill(v);
        const double rate = gb / seconds_since(t);
        const bool ok = ::write(fds[1], &rate, sizeof rate) == sizeof rate;
        ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    double rate = no_value;
    const ssize_t got = ::read(fds[0], &rate, sizeof rate);
    ::close(fds[0]);
    wait_for(kid, "the OpenMP child");
    if (got != sizeof rate) throw std::runtime_error("the OpenMP child reported nothing");
    return rate;
}

double fork_and_write(double* p, std::size_t rows, std::size_t cols, int workers, double v,
                      double gb) {
    std::fflush(nullptr);
    const auto t = clock_type::now();
    std::vector<pid_t> kids;
    for (int k = 0; k < workers; ++k) {
        const pid_t kid = ::fork();
        if (kid < 0) throw std::runtime_error("fork failed");
        if (kid == 0) {
            const std::size_t begin = rows * std::size_t(k) / std::size_t(workers);
            const std::size_t end = rows * std::size_t(k + 1) / std::size_t(workers);
            std::fill(p + begin * cols, p + end * cols, v);
            ::_exit(0);
        }
        kids.push_back(kid);
    }
    for (pid_t kid : kids) wait_for(kid, "a forked writer");
    return gb / seconds_since(t);
}

}  // namespace fill_sweep_bench
