#include "shmpool/file_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "os.hpp"

namespace shmpool {
namespace {

constexpr mode_t lock_file_mode = 0600;
constexpr std::chrono::microseconds first_pause(50);
constexpr std::chrono::microseconds last_pause(5000);

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

bool is_directory(const std::string& path) {
    struct stat st {};
    int err = 0;
    return detail::stat_path(path, st, err) && S_ISDIR(st.st_mode);
}

bool is_symlink(const std::string& path) {
    struct stat st {};
    try {
        return detail::lstat_path(path, st) && S_ISLNK(st.st_mode);
    } catch (const error&) {
        return false;
    }
}

[[noreturn]] void throw_system(int err, const std::string& what) {
    throw system_error(std::error_code(err, std::generic_category()), what);
}

[[noreturn]] void throw_is_directory(const std::string& path) {
    throw invalid_argument_error("cannot use " + path + " as a lock file: it is a directory; " +
                                 "pass the path of a file, such as " + path + "/NAME.lock");
}

[[noreturn]] void throw_create_error(int err, const std::string& path) {
    const std::string dir = directory_of(path);
    const std::string what = "cannot create lock file " + path;
    if (err == ENOENT && !is_directory(dir))
        throw not_found_error(what + ": directory " + dir + " does not exist; create it first");
    if (err == ENOENT)
        throw_system(err,
                     what + " (" + dir + " does not take new files; choose another directory)");
    if (err == EACCES || err == EPERM)
        throw_system(err, what + " (no permission to create files in " + dir +
                              "; choose a directory you can write, such as /tmp)");
    if (err == EROFS)
        throw_system(err, what + " (" + dir + " is on a read-only file system; choose a " +
                              "directory on a writable one, such as /tmp)");
    if (err == EISDIR) throw_is_directory(path);
    detail::throw_errno(err, what);
}

[[noreturn]] void throw_open_error(int err, const std::string& path) {
    const std::string what = "cannot open lock file " + path;
    if (err == ELOOP && is_symlink(path))
        throw error("cannot use " + path + " as a lock file: it is a symbolic link, and " +
                    "file_lock refuses to follow symlinks; remove the link or choose another path");
    if (err == EISDIR) throw_is_directory(path);
    if (err == EACCES || err == EPERM)
        throw_system(err, what + " for writing (it belongs to another user or is read-only; " +
                              "make it writable or choose another path)");
    if (err == EROFS)
        throw_system(err, what + " for writing (read-only file system; choose a path on a " +
                              "writable one, such as /tmp)");
    detail::throw_errno(err, what);
}

[[noreturn]] void throw_lock_error(int err, const std::string& path) {
    throw_system(err, "cannot lock " + path);
}

// Creates the file with exactly lock_file_mode (whatever the umask), or opens the existing one
// without touching its mode. O_NOFOLLOW refuses a symlink in either case.
detail::file_descriptor open_lock_file(const std::string& path) {
    for (int attempt = 0;; ++attempt) {
        int err = 0;
        detail::file_descriptor fd = detail::try_open_file(
            path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, lock_file_mode, err);
        if (fd) {
            detail::set_mode(fd.get(), lock_file_mode, path);
            return fd;
        }
        if (err != EEXIST) throw_create_error(err, path);
        // O_NONBLOCK: opening a FIFO or a device at the path must not hang; it is refused below.
        fd = detail::try_open_file(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0, err);
        if (fd) return fd;
        if (err != ENOENT || attempt == 3) throw_open_error(err, path);
        // Removed between the two calls: create it again.
    }
}

}  // namespace

file_lock::file_lock(std::string path) : path_(std::move(path)) {
    if (path_.empty()) throw invalid_argument_error("shmpool::file_lock: the lock path is empty");
    detail::file_descriptor fd = open_lock_file(path_);
    if (!S_ISREG(detail::stat_fd(fd.get(), path_).st_mode))
        throw invalid_argument_error("cannot use " + path_ + " as a lock file: it is not a " +
                                     "regular file; choose another path");
    pid_ = detail::current_pid();
    fd_ = fd.release();
}

file_lock::~file_lock() { release(); }

file_lock::file_lock(file_lock&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      pid_(other.pid_),
      owned_(std::exchange(other.owned_, false)) {
    other.path_.clear();
}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        other.path_.clear();
        fd_ = std::exchange(other.fd_, -1);
        pid_ = other.pid_;
        owned_ = std::exchange(other.owned_, false);
    }
    return *this;
}

void file_lock::lock() {
    check_usable("lock");
    const int err = detail::lock_file(fd_, detail::file_lock_op::lock_exclusive);
    if (err != 0) throw_lock_error(err, path_);
    owned_ = true;
}

bool file_lock::try_lock() {
    check_usable("try_lock");
    const int err = detail::lock_file(fd_, detail::file_lock_op::try_lock_exclusive);
    if (err == EAGAIN) return false;
    if (err != 0) throw_lock_error(err, path_);
    owned_ = true;
    return true;
}

bool file_lock::try_lock_within(wait_duration wait) {
    check_usable("try_lock_for");
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (wait_duration pause = first_pause;;
         pause = std::min<wait_duration>(pause * 2, last_pause)) {
        if (try_lock()) return true;
        const wait_duration left = deadline - std::chrono::steady_clock::now();
        if (left <= left.zero()) return false;
        std::this_thread::sleep_for(std::min(pause, left));
    }
}

void file_lock::unlock() {
    check_usable("unlock");
    const int err = detail::lock_file(fd_, detail::file_lock_op::unlock);
    if (err != 0) throw_system(err, "cannot unlock " + path_);
    owned_ = false;
}

bool file_lock::owns_lock() const noexcept {
    return owned_ && fd_ >= 0 && pid_ == detail::current_pid();
}

void file_lock::check_usable(const char* operation) const {
    const std::string what = std::string("shmpool::file_lock::") + operation + ": ";
    if (fd_ < 0) throw error(what + "this file_lock is empty (it was moved from)");
    if (pid_ != detail::current_pid())
        throw error(what + "cannot use the file_lock of " + path_ + " in a forked child: it " +
                    "shares the lock of process " + std::to_string(pid_) +
                    "; construct a new file_lock in the child");
    const bool unlocking = std::string_view(operation) == "unlock";
    if (owned_ && !unlocking)
        throw error(what + path_ + " is already locked by this file_lock; unlock() it first");
    if (!owned_ && unlocking) throw error(what + path_ + " is not locked by this file_lock");
}

void file_lock::release() noexcept {
    if (fd_ >= 0) {
        // In a forked child the descriptor shares the parent's lock: close it, never unlock.
        if (owned_ && pid_ == detail::current_pid())
            detail::lock_file(fd_, detail::file_lock_op::unlock);
        detail::file_descriptor closing(fd_);
    }
    fd_ = -1;
    owned_ = false;
}

}  // namespace shmpool
