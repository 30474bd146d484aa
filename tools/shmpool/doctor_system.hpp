// What `shmpool doctor` reads from the system (tools/shmpool/doctor_system.cpp): the shm
// directory and the mount that holds it, /proc/meminfo, the one-line files of /proc and /sys,
// and the kernel features it probes by trying them (O_TMPFILE, renameat2, madvise, pidfd_open).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace shmpool::cli {

/// A line of /proc/self/mounts.
struct mount_entry {
    std::string point;    // where it is mounted, unescaped ("/dev/shm")
    std::string type;     // "tmpfs", "ext4"
    std::string options;  // "rw,relatime,size=65536k,huge=within_size"
};

/// The shm directory, as the checks need it.
struct shm_directory_state {
    std::string dir;        // /dev/shm, or $SHMPOOL_SHM_DIR
    bool from_env = false;  // SHMPOOL_SHM_DIR chose it
    std::string error;      // why it cannot be used; empty when it can
    bool tmpfs = false;     // statfs says TMPFS_MAGIC
    mount_entry mount;      // the mount that holds it (type "unknown" if not found)
    std::uint64_t size = 0, free = 0, used = 0;  // bytes; size 0 on tmpfs: no limit
};

/// Looks at /dev/shm, or $SHMPOOL_SHM_DIR.
shm_directory_state look_at_shm_directory();

/// The mount that holds the real path `path`: the longest mount point above it, the last one
/// listed when mounts are stacked.
std::optional<mount_entry> mount_of(const std::string& path);
/// The value of `key=` in a comma-separated list of mount options; empty if absent.
std::string mount_option(const std::string& options, const std::string& key);

/// The fields of /proc/meminfo, in bytes ("MemAvailable" -> ...).
std::map<std::string, std::uint64_t> read_meminfo();
/// The first line of a file; empty when it cannot be read.
std::string first_line(const std::string& path);
/// The bracketed choice of a sysfs setting: "always [madvise] never" -> "madvise".
std::string bracketed(const std::string& line);
/// Whether this process has CAP_SYS_PTRACE in its effective set (/proc/self/status).
bool has_cap_sys_ptrace();

/// Each probe returns 0 when the feature works, otherwise the errno it failed with.
int probe_populate_write();                   // madvise(MADV_POPULATE_WRITE) on one page
int probe_o_tmpfile(const std::string& dir);  // open(dir, O_TMPFILE), then close
int probe_pidfd_open();                       // pidfd_open(getpid()), then close
/// renameat2(A, B, RENAME_NOREPLACE) on two new files of `dir`, both removed afterwards:
/// 0 when it refused with EEXIST (supported); EEXIST when it replaced B (ignored the flag);
/// the errno of a failure otherwise. `setup_error` is set when the files cannot be created.
int probe_rename_noreplace(const std::string& dir, int& setup_error);

}  // namespace shmpool::cli
