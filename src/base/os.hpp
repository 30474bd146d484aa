// The one seam between shmpool and the operating system: every system call of the library is
// made through the functions declared here (files in os_file.cpp, memory in os_memory.cpp,
// processes and signals in os_process.cpp, futexes in futex.hpp). Every call retries on EINTR
// (eintr.hpp) and either turns a failure into a shmpool exception that names the object or
// returns the error number, as its comment says; destructors never throw.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/pid.hpp"

namespace shmpool::detail {

/// An owned file descriptor, closed on destruction.
class file_descriptor {
public:
    file_descriptor() = default;
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    file_descriptor(file_descriptor&& o) noexcept : fd_(o.release()) {}
    file_descriptor& operator=(file_descriptor&& o) noexcept;
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor();

    int get() const noexcept { return fd_; }
    int release() noexcept;
    explicit operator bool() const noexcept { return fd_ >= 0; }

private:
    int fd_ = -1;
};

/// A mapping of a whole file, unmapped on destruction.
class mapped_region {
public:
    mapped_region() = default;
    mapped_region(void* addr, std::size_t length) noexcept : addr_(addr), length_(length) {}
    mapped_region(mapped_region&& o) noexcept;
    mapped_region& operator=(mapped_region&& o) noexcept;
    mapped_region(const mapped_region&) = delete;
    mapped_region& operator=(const mapped_region&) = delete;
    ~mapped_region();

    std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
    std::size_t size() const noexcept { return length_; }
    void reset() noexcept;

private:
    void* addr_ = nullptr;
    std::size_t length_ = 0;
};

/// [[noreturn]] helper: throws not_found_error for ENOENT, system_error otherwise.
/// `what` reads as the start of a sentence: "cannot open /dev/shm/grid".
[[noreturn]] void throw_errno(int err, const std::string& what);

/// open(2) with EINTR handling; throws on failure.
file_descriptor open_file(const std::string& path, int flags, mode_t mode = 0);
/// open(2) that returns an empty descriptor and sets `err` instead of throwing.
file_descriptor try_open_file(const std::string& path, int flags, mode_t mode, int& err) noexcept;
/// Creates an unnamed file in `dir` (O_TMPFILE), or returns an empty descriptor when the file
/// system has no O_TMPFILE.
file_descriptor open_unnamed_file(const std::string& dir, mode_t mode);

struct stat stat_fd(int fd, const std::string& path);
/// stat(2) without following a final symlink; false when the path does not exist.
bool lstat_path(const std::string& path, struct stat& st);

void set_mode(int fd, mode_t mode, const std::string& path);
void truncate_fd(int fd, std::size_t length, const std::string& path);
/// True when `fd` lives on tmpfs (in memory: /dev/shm), where reserving space allocates pages.
bool on_tmpfs(int fd) noexcept;
/// Reserves `length` bytes from `offset` (posix_fallocate); returns the error number (0,
/// ENOSPC...).
int reserve_fd(int fd, std::size_t offset, std::size_t length) noexcept;
/// stat(2), following links; false (and `err` set) when it fails.
bool stat_path(const std::string& path, struct stat& st, int& err) noexcept;

/// The names in directory `dir` but "." and ".."; `err` is set (and the list empty) when it
/// cannot be read.
std::vector<std::string> list_directory(const std::string& dir, int& err);

/// A pipe, both ends close-on-exec: {read end, write end}. Throws system_error naming `what`.
std::pair<file_descriptor, file_descriptor> make_pipe(const std::string& what);
/// Writes all `size` bytes (EINTR and short writes handled); returns 0 or the error number.
int write_all(int fd, const void* data, std::size_t size) noexcept;
/// read(2), once, EINTR handled: the bytes read, 0 at end of file, -1 (errno set) on error.
long read_some(int fd, void* buffer, std::size_t size) noexcept;

/// Reads up to `length` bytes at `offset`; returns how many were read (short at end of file).
std::size_t read_at(int fd, void* buffer, std::size_t length, std::size_t offset,
                    const std::string& path);

/// Gives the unnamed file `fd` the name `path`. Returns EEXIST if the name is taken, 0 on success.
int link_fd(int fd, const std::string& path);
/// rename(2); when `replace` is false the target must not exist (returns EEXIST).
int rename_path(const std::string& from, const std::string& to, bool replace) noexcept;
/// unlink(2); returns the error number (0 on success).
int unlink_path(const std::string& path) noexcept;

enum class file_lock_op { lock_exclusive, try_lock_exclusive, unlock };

/// flock(2) on `fd`, retried on EINTR: an exclusive lock on the whole file that belongs to the
/// open file description (like an OFD lock) and is the lock Python's fcntl.flock and the
/// filelock package take. Returns the error number: 0, or EAGAIN when another open file
/// description holds it (try_lock_exclusive).
int lock_file(int fd, file_lock_op op) noexcept;

/// Bytes available to unprivileged users on the file system holding `dir`.
std::size_t free_bytes(const std::string& dir);

/// Memory the system can still give (MemAvailable + SwapFree of /proc/meminfo), or 0 when
/// unknown. A tmpfs segment lives in it: a tmpfs as large as RAM would let a segment grow until
/// the OOM killer steps in, where a check against this refuses it up front.
std::size_t available_memory_bytes() noexcept;

/// mmap(2) of the first `length` bytes of `fd`, shared and read-write.
mapped_region map_fd(int fd, std::size_t length, const std::string& path);
/// The same, read-only (PROT_READ): writes through it fault.
mapped_region map_fd_read_only(int fd, std::size_t length, const std::string& path);
/// The same, read-only; an empty region (and `err` set) instead of throwing.
mapped_region try_map_fd_read_only(int fd, std::size_t length, int& err) noexcept;
/// The system's page size in bytes.
std::size_t system_page_size() noexcept;
/// How many pages of `region` are in memory (mincore(2)); nullopt when the kernel refuses.
std::optional<std::uint64_t> resident_pages(const mapped_region& region) noexcept;
/// Whether mincore(2) tells this process the truth about the page cache of open file `fd`,
/// owned by `owner`: only to the owner and to who may write the file (to others, nothing is
/// resident).
bool may_see_page_cache(int fd, uid_t owner) noexcept;
/// fstat(2) that returns false (and sets `err`) instead of throwing.
bool try_stat_fd(int fd, struct stat& st, int& err) noexcept;
/// realpath(3): the canonical path, or `path` itself when it cannot be resolved.
std::string canonical_path(const std::string& path);
/// The effective user ID, and the name of user `uid` ("" when unknown).
uid_t effective_uid() noexcept;
std::string user_name(uid_t uid);

/// A shared anonymous mapping of `length` zeroed bytes, inherited by children at the same
/// address (the pool's control block). Throws system_error naming `what`.
mapped_region map_shared_anonymous(std::size_t length, const std::string& what);

/// Allocates the pages of a shared mapping and fills its page tables, writable
/// (MADV_POPULATE_WRITE), from one thread per usable CPU (at most 8, one per 64 MiB): on tmpfs
/// the kernel's allocation and zeroing of pages is the cost of creating an array, and it runs in
/// parallel. The threads are joined before it returns. `on_progress`, if given, is called in
/// the calling thread with the bytes done so far, every 64 MiB or 50 ms; it must not throw.
/// Returns 0; EFAULT when a page could not be allocated (the file system is full: a write
/// would have died of SIGBUS); ENOMEM; or EINVAL on a kernel older than 5.14, which has no
/// MADV_POPULATE_WRITE (nothing was done).
int populate_writable(void* addr, std::size_t length,
                      const std::function<void(std::size_t)>& on_progress = {}) noexcept;

/// The threads of this process (the entries of /proc/self/task), 0 when unreadable.
std::size_t threads_of_this_process() noexcept;

/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
std::size_t usable_cpus() noexcept;

/// The directory of named segments: /dev/shm, or $SHMPOOL_SHM_DIR when set (read once).
const std::string& shm_directory();

/// What shmpool reads of /proc/PID/stat (the only reader of that file).
struct process_stat {
    char comm[64] = {};            // field 2, the command name, without its parentheses
    char state = '?';              // field 3: R, S, D..., Z (zombie), X (dead)
    pid_t ppid = 0;                // field 4
    unsigned long flags = 0;       // field 9: PF_EXITING, PF_KTHREAD...
    std::uint64_t start_time = 0;  // field 22: clock ticks after boot

    /// A zombie, a dead process or one that is exiting: it runs no more code of its own.
    bool dead() const noexcept;
    /// A kernel thread (it has no user memory).
    bool kernel_thread() const noexcept;
};

/// Reads /proc/PID/stat into `out`; false when there is no such process or it cannot be read
/// (hidepid). Allocates nothing.
bool read_process_stat(pid_t pid, process_stat& out) noexcept;

/// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat),
/// or 0 when the process does not exist. Tells a live process from a reused PID.
std::uint64_t process_start_time(pid_t pid) noexcept;

/// This machine's boot ID (/proc/sys/kernel/random/boot_id, 16 bytes): different on every
/// host and after every boot, so a PID recorded with it is checked only where it means that
/// process. All zeros when it cannot be read. Read once, then cached.
const std::array<std::uint8_t, 16>& boot_id() noexcept;

// --- processes and signals -------------------------------------------------------------

/// The calling thread's stack, [low, high); {0, 0} when unknown (pthread_getattr_np).
std::pair<std::uintptr_t, std::uintptr_t> thread_stack_range() noexcept;

/// gettid(2): the calling thread's ID (a system call: cache it where it is hot).
pid_t current_tid() noexcept;
/// pthread_atfork(3): `prepare` runs before fork(2), `parent` and `child` after it.
void on_fork(void (*prepare)(), void (*parent)(), void (*child)()) noexcept;

/// fork(2), stdio flushed first. The child's PID in the parent, 0 in the child. Throws
/// system_error naming `what` ("the pool's helper process").
pid_t fork_process(const std::string& what);
/// In a process just forked: the kernel sends it SIGKILL when its parent dies
/// (PR_SET_PDEATHSIG), and it checks that its parent is still `parent` (it may have died before
/// the request took effect). False when it has died: the caller should _exit.
bool die_with_parent(pid_t parent) noexcept;
/// kill(2): sends `sig` to `pid`; returns 0 or the error number.
int send_signal(pid_t pid, int sig) noexcept;
/// SIG_DFL or SIG_IGN for `sig`.
void set_signal_default(int sig) noexcept;
void ignore_signal(int sig) noexcept;
/// Unblocks every signal in the calling thread.
void unblock_all_signals() noexcept;
/// "SIGKILL (Killed)".
std::string signal_text(int sig);

/// A descriptor that becomes readable when a child of this process ends (a signalfd of SIGCHLD,
/// which it blocks). drain() empties it; then reap_any() tells which children ended.
class child_exits {
public:
    /// Throws system_error.
    child_exits();
    int fd() const noexcept { return fd_.get(); }
    void drain() noexcept;
    /// Closes the descriptor (in a child just forked, which must not keep it).
    void close() noexcept { fd_ = file_descriptor(); }

private:
    file_descriptor fd_;
};

/// poll(2) for input on `fds` (EINTR: no descriptor ready); ready[i] is set when fds[i] is
/// readable or hung up. `timeout_ms` < 0 waits for ever. Returns 0 or the error number.
int wait_readable(const int* fds, bool* ready, std::size_t count, int timeout_ms) noexcept;

/// waitpid(pid, WNOHANG): the PID reaped (its status in `status`), 0 while it runs, -1 on error
/// (ECHILD: not a child). pid -1: any child.
pid_t try_reap(pid_t pid, int& status) noexcept;
/// Blocks until every child of this process has been reaped.
void reap_all_children() noexcept;
/// Waits for child `pid` until `deadline`, then SIGKILLs and reaps it: the waitpid status, or
/// -1 when it is not our child. `killed` tells whether it had to be killed. The library's one
/// "reap with a deadline"; shmpool::reap_child (shmpool/process.hpp) is its public face.
int reap_with_deadline(pid_t pid, steady_time deadline, bool* killed = nullptr) noexcept;

/// The one rule of whether a process is alive, for every part of shmpool that asks (gc and ls of
/// an array's creator, the rwlock's holders, memory inspection): it exists, is not a zombie,
/// dead or exiting (process_stat::dead), and, when `start_time` is given, started then (or the
/// PID was reused by another process); only the bits of `start_mask` are compared. Where /proc
/// does not show the process (hidepid), kill(pid, 0) decides. Allocates nothing.
bool process_alive(pid_t pid, std::uint64_t start_time = 0,
                   std::uint64_t start_mask = ~std::uint64_t{0}) noexcept;

}  // namespace shmpool::detail
