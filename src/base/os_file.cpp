// The OS seam, files: descriptors, opening, stat, links, renames, space, file locks,
// directories.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "eintr.hpp"
#include "os.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

file_descriptor& file_descriptor::operator=(file_descriptor&& o) noexcept {
    if (this != &o) {
        file_descriptor old(fd_);
        fd_ = o.release();
    }
    return *this;
}

file_descriptor::~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);  // never retried: on Linux the descriptor is gone after EINTR
}

int file_descriptor::release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
}

void throw_errno(int err, const std::string& what) {
    std::error_code code(err, std::generic_category());
    if (err == ENOENT) throw not_found_error(what + ": " + code.message());
    throw system_error(code, what);
}

file_descriptor try_open_file(const std::string& path, int flags, mode_t mode, int& err) noexcept {
    int fd = retry_eintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
    err = fd < 0 ? errno : 0;
    return file_descriptor(fd);
}

file_descriptor open_file(const std::string& path, int flags, mode_t mode) {
    int err = 0;
    file_descriptor fd = try_open_file(path, flags, mode, err);
    if (!fd) throw_errno(err, "cannot open " + path);
    return fd;
}

file_descriptor open_unnamed_file(const std::string& dir, mode_t mode) {
    int err = 0;
    file_descriptor fd = try_open_file(dir, O_TMPFILE | O_RDWR, mode, err);
    if (fd || err == EOPNOTSUPP || err == EISDIR || err == EINVAL) return fd;
    throw_errno(err, "cannot create a file in " + dir);
}

struct stat stat_fd(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno(errno, "cannot stat " + path);
    return st;
}

bool lstat_path(const std::string& path, struct stat& st) {
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_errno(errno, "cannot stat " + path);
}

void set_mode(int fd, mode_t mode, const std::string& path) {
    if (retry_eintr([&] { return ::fchmod(fd, mode); }) != 0)
        throw_errno(errno, "cannot set the permissions of " + path);
}

void truncate_fd(int fd, std::size_t length, const std::string& path) {
    if (retry_eintr([&] { return ::ftruncate(fd, static_cast<off_t>(length)); }) != 0)
        throw_errno(errno, "cannot set the size of " + path);
}

bool on_tmpfs(int fd) noexcept {
    struct statfs fs {};
    return retry_eintr([&] { return ::fstatfs(fd, &fs); }) == 0 && fs.f_type == TMPFS_MAGIC;
}

int reserve_fd(int fd, std::size_t offset, std::size_t length) noexcept {
    int r;
    do {
        r = ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(length));
    } while (r == EINTR);
    return r;
}

std::size_t read_at(int fd, void* buffer, std::size_t length, std::size_t offset,
                    const std::string& path) {
    std::size_t done = 0;
    while (done < length) {
        ssize_t n = retry_eintr([&] {
            return ::pread(fd, static_cast<char*>(buffer) + done, length - done,
                           static_cast<off_t>(offset + done));
        });
        if (n < 0) throw_errno(errno, "cannot read " + path);
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

int link_fd(int fd, const std::string& path) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
    if (errno == EEXIST) return EEXIST;
    throw_errno(errno, "cannot create " + path);
}

int rename_path(const std::string& from, const std::string& to, bool replace) noexcept {
    const unsigned flags = replace ? 0 : RENAME_NOREPLACE;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) == 0) return 0;
    return errno;
}

int unlink_path(const std::string& path) noexcept {
    return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

int lock_file(int fd, file_lock_op op) noexcept {
    const int how = op == file_lock_op::unlock           ? LOCK_UN
                    : op == file_lock_op::lock_exclusive ? LOCK_EX
                                                         : LOCK_EX | LOCK_NB;
    if (retry_eintr([&] { return ::flock(fd, how); }) == 0) return 0;
    return errno == EWOULDBLOCK ? EAGAIN : errno;
}

std::size_t free_bytes(const std::string& dir) {
    struct statvfs vfs {};
    if (retry_eintr([&] { return ::statvfs(dir.c_str(), &vfs); }) != 0)
        throw_errno(errno, "cannot read the free space of " + dir);
    return static_cast<std::size_t>(vfs.f_bavail) * vfs.f_frsize;
}

const std::string& shm_directory() {
    static const std::string dir = [] {
        const char* env = std::getenv("SHMPOOL_SHM_DIR");
        return std::string(env && *env ? env : "/dev/shm");
    }();
    return dir;
}

bool stat_path(const std::string& path, struct stat& st, int& err) noexcept {
    if (retry_eintr([&] { return ::stat(path.c_str(), &st); }) == 0) return true;
    err = errno;
    return false;
}

std::vector<std::string> list_directory(const std::string& dir, int& err) {
    std::vector<std::string> names;
    const std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
    if (!d) {
        err = errno;
        return names;
    }
    err = 0;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    return names;
}

std::pair<file_descriptor, file_descriptor> make_pipe(const std::string& what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "cannot create " + what);
    return {file_descriptor(fds[0]), file_descriptor(fds[1])};
}

int write_all(int fd, const void* data, std::size_t size) noexcept {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = retry_eintr([&] { return ::write(fd, p, size); });
        if (n < 0) return errno;
        if (n == 0) return EIO;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return 0;
}

long read_some(int fd, void* buffer, std::size_t size) noexcept {
    return retry_eintr([&] { return ::read(fd, buffer, size); });
}

bool may_see_page_cache(int fd, uid_t owner) noexcept {
    if (owner == ::geteuid()) return true;
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    return ::faccessat(AT_FDCWD, self.c_str(), W_OK, AT_EACCESS) == 0;
}

bool try_stat_fd(int fd, struct stat& st, int& err) noexcept {
    if (::fstat(fd, &st) == 0) return true;
    err = errno;
    return false;
}

std::string canonical_path(const std::string& path) {
    char real[PATH_MAX];
    return ::realpath(path.c_str(), real) ? std::string(real) : path;
}

uid_t effective_uid() noexcept { return ::geteuid(); }

std::string user_name(uid_t uid) {
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) return found->pw_name;
    return {};
}

}  // namespace shmpool::detail
