// Helpers of the tests that run the `shmpool` tool as a child process (test_cli.cpp,
// test_cli_doctor.cpp): running it with a timeout and extra environment, capturing both
// streams; a private shm directory (SHMPOOL_SHM_DIR) so that they neither remove nor race with
// other programs' arrays; arrays left behind there by a process that died.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#ifndef SHMPOOL_CLI
#error "compile with -DSHMPOOL_CLI='\"/path/to/shmpool\"'"
#endif
#ifndef SHMPOOL_PEER
#error "compile with -DSHMPOOL_PEER='\"/path/to/shmpool_peer\"'"
#endif

namespace shmpool::test {

struct run_result {
    int status = -1;  // exit code; 128 + signal when killed
    std::string out;
    std::string err;
};

// Reads both pipes until both are closed.
inline void drain(int out_fd, int err_fd, run_result& r) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_count = 2;
    char buf[4096];
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;
                --open_count;
            }
        }
    }
}

inline std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (std::string& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Runs `timeout 30 program args...` (program and args in `command`), with `env` added to the
// environment; both streams captured.
inline run_result run_program(const std::vector<std::string>& command,
                              const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv_s{"timeout", "30"};
    argv_s.insert(argv_s.end(), command.begin(), command.end());
    std::vector<std::string> env_s(env);
    for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
    std::vector<char*> argv = c_strings(argv_s);
    std::vector<char*> envp = c_strings(env_s);

    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return {};
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        return {};
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::execvpe("timeout", argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    run_result r;
    if (pid > 0) drain(out_pipe[0], err_pipe[0], r);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return r;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

// Runs `timeout 30 SHMPOOL_CLI args...`, with `env` added to the environment.
inline run_result run_cli(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), SHMPOOL_CLI);
    return run_program(args, env);
}

// Output shown when an assertion fails.
inline std::string shown(const run_result& r) {
    return "exit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// A directory of its own, handed to the tool as SHMPOOL_SHM_DIR; removed with its files.
struct private_dir {
    std::string path;
    private_dir() {
        std::string templ =
            (std::filesystem::temp_directory_path() / "shmpool-cli-XXXXXX").string();
        if (::mkdtemp(templ.data()) != nullptr) path = templ;
    }
    private_dir(const private_dir&) = delete;
    private_dir& operator=(const private_dir&) = delete;
    ~private_dir() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
    std::string env() const { return "SHMPOOL_SHM_DIR=" + path; }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

// Creates the array NAME (float32, 2 x 3) in `dir`, as a named array of a program whose shm
// directory it is (the peer program, run with SHMPOOL_SHM_DIR), which then dies without
// cleaning up (_exit): the array stays behind with a dead creator.
inline void create_orphan(const private_dir& dir, const std::string& name, bool persistent) {
    const run_result r = run_program(
        {SHMPOOL_PEER, "orphan", name, persistent ? "persistent" : "temporary"}, {dir.env()});
    ASSERT_EQ(r.status, 0) << "the peer could not create " << dir.file(name) << "\n" << shown(r);
}

}  // namespace shmpool::test
