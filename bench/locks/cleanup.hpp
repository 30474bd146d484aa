// bench/locks: what this program creates. Every segment and file is removed at the end, even on
// an exception (by the cleanup object), and the files on SIGINT and SIGTERM too (on_signal).
// Only the process that made the list cleans up (never a forked child).
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

namespace locks {

// SIGINT and SIGTERM: the files are unlinked here (by the process that made them), then the
// signal goes on to the handler that was there before (shmpool's, which removes the segments
// this process created and re-raises the signal with the default action).
namespace on_signal {
// Call after the first segment is created (shmpool installs its handlers then).
void install();
// A file to unlink on the signal (at most 8, each under 160 bytes; others are not).
void add(const std::string& path);
}  // namespace on_signal

class cleanup {
public:
    cleanup();
    cleanup(const cleanup&) = delete;
    cleanup& operator=(const cleanup&) = delete;
    ~cleanup();

    // A fresh segment name (for value, raw_value or shared_array: all are removed alike).
    std::string segment(const std::string& tag);
    // A fresh path under /tmp.
    std::string file(const std::string& tag);
    void remove_segment(const std::string& name) noexcept;
    void remove_file(const std::string& path) noexcept;
    // What is left under /dev/shm and /tmp with this run's prefix (should be nothing).
    std::vector<std::string> leftovers() const;

private:
    pid_t owner_ = ::getpid();
    std::string prefix_;
    std::vector<std::string> segments_, files_;
    unsigned counter_ = 0;
};

}  // namespace locks
