// What `shmpool doctor` reads from the system and the kernel features it tries (see
// doctor_system.hpp). Plain POSIX and Linux calls: no part of the library.
#include "doctor_system.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older C library headers lack it
#endif

namespace shmpool::cli {
namespace {

bool is_octal(char c) { return c >= '0' && c <= '7'; }

// /proc/self/mounts writes a space as "\040" (and tab, newline, backslash likewise).
std::string unescape(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && is_octal(s[i + 1]) && is_octal(s[i + 2]) &&
            is_octal(s[i + 3])) {
            out +=
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

// Whether the real path `path` lies under the mount point `point`.
bool lies_under(const std::string& path, const std::string& point) {
    if (point == "/") return true;
    return path.starts_with(point) && (path.size() == point.size() || path[point.size()] == '/');
}

}  // namespace

std::optional<mount_entry> mount_of(const std::string& path) {
    std::ifstream in("/proc/self/mounts");
    std::optional<mount_entry> best;
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string device, point, type, options;
        if (!(fields >> device >> point >> type >> options)) continue;
        point = unescape(point);
        if (!lies_under(path, point)) continue;
        if (!best || point.size() >= best->point.size()) best = mount_entry{point, type, options};
    }
    return best;
}

std::string mount_option(const std::string& options, const std::string& key) {
    std::istringstream in(options);
    for (std::string option; std::getline(in, option, ',');)
        if (option.starts_with(key + "=")) return option.substr(key.size() + 1);
    return "";
}

shm_directory_state look_at_shm_directory() {
    shm_directory_state s;
    const char* env = std::getenv("SHMPOOL_SHM_DIR");
    s.from_env = env != nullptr && *env != '\0';
    s.dir = s.from_env ? env : "/dev/shm";
    s.mount.type = "unknown";
    char real[PATH_MAX];
    struct stat st {};
    struct statfs fs {};
    struct statvfs vfs {};
    if (::realpath(s.dir.c_str(), real) == nullptr || ::stat(real, &st) != 0 ||
        ::statfs(real, &fs) != 0 || ::statvfs(real, &vfs) != 0) {
        s.error = std::strerror(errno);
        return s;
    }
    if (!S_ISDIR(st.st_mode)) {
        s.error = "not a directory";
        return s;
    }
    s.tmpfs = fs.f_type == TMPFS_MAGIC;
    s.size = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    s.free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    s.used = static_cast<std::uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    if (std::optional<mount_entry> m = mount_of(real)) s.mount = *m;
    return s;
}

std::map<std::string, std::uint64_t> read_meminfo() {
    std::map<std::string, std::uint64_t> fields;
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key;
        std::uint64_t kb = 0;
        if (!(words >> key >> kb) || key.empty() || key.back() != ':') continue;
        key.pop_back();
        fields[key] = kb * 1024;
    }
    return fields;
}

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string bracketed(const std::string& line) {
    const std::size_t open = line.find('[');
    const std::size_t close = line.find(']', open);
    if (open == std::string::npos || close == std::string::npos) return "";
    return line.substr(open + 1, close - open - 1);
}

bool has_cap_sys_ptrace() {
    constexpr int cap_sys_ptrace = 19;
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("CapEff:")) continue;
        const unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
        return (caps >> cap_sys_ptrace) & 1;
    }
    return false;
}

int probe_populate_write() {
    const long page = ::sysconf(_SC_PAGESIZE);
    const std::size_t size = page > 0 ? static_cast<std::size_t>(page) : 4096;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return errno;
    const int err = ::madvise(p, size, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
    ::munmap(p, size);
    return err;
}

int probe_o_tmpfile(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
}

int probe_pidfd_open() {
#ifdef SYS_pidfd_open
    const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    if (fd < 0) return errno;
    ::close(static_cast<int>(fd));
    return 0;
#else
    return ENOSYS;
#endif
}

int probe_rename_noreplace(const std::string& dir, int& setup_error) {
    // Named as shmpool's staging files are: `shmpool gc` removes them if this process dies here.
    const std::string base = dir + "/.shmpool-tmp-" + std::to_string(::getpid()) + "-0-doctor-";
    const std::string a = base + "a", b = base + "b";
    setup_error = 0;
    for (const std::string& path : {a, b}) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            setup_error = errno;
            ::unlink(a.c_str());
            return setup_error;
        }
        ::close(fd);
    }
    const bool renamed =
        ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_NOREPLACE) == 0;
    const int err = renamed ? EEXIST : (errno == EEXIST ? 0 : errno);
    ::unlink(a.c_str());
    ::unlink(b.c_str());
    return err;
}

}  // namespace shmpool::cli
