// The `shmpool doctor` subcommand: checks what shmpool needs from this machine. The shm directory
// (tmpfs, size, huge pages), transparent huge pages, memory, the kernel features shmpool uses,
// what `shmpool mem` may read, and arrays left behind by processes that died. Each check has a
// verdict (ok, note, problem), a detail and, where something can be improved, the fix; text or
// one JSON object. run_doctor returns 1 when a problem was found, 0 otherwise (notes are fine).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli_support.hpp"
#include "commands.hpp"
#include "doctor_system.hpp"
#include "shmpool/catalog.hpp"

namespace shmpool::cli {
namespace {

enum class verdict { ok, note, problem };

std::string verdict_name(verdict v) {
    return v == verdict::ok ? "ok" : v == verdict::note ? "note" : "problem";
}

struct check {
    std::string name;
    verdict result = verdict::ok;
    std::string detail;
    std::string fix;  // the command or step that improves it; empty: nothing to do
};

constexpr std::uint64_t gib = std::uint64_t{1} << 30;
constexpr std::uint64_t mib = std::uint64_t{1} << 20;
const std::string thp_dir = "/sys/kernel/mm/transparent_hugepage/";

bool usable(const shm_directory_state& s) { return s.error.empty(); }

// The check, when the shm directory cannot be used: said once, by shm_fs.
check skipped(const std::string& name, const shm_directory_state& s) {
    return {name, verdict::note, "not checked: " + s.dir + " cannot be used", ""};
}

check check_shm_fs(const shm_directory_state& s) {
    const std::string fix =
        s.from_env ? "point SHMPOOL_SHM_DIR to a tmpfs directory, or unset it (/dev/shm)"
                   : "as root, `mkdir -p /dev/shm && mount -t tmpfs -o size=50% tmpfs /dev/shm`";
    if (!usable(s)) return {"shm_fs", verdict::problem, s.dir + ": " + s.error, fix};
    if (s.tmpfs)
        return {"shm_fs", verdict::ok,
                s.dir + " is tmpfs (mounted on " + s.mount.point + "): arrays live in memory", ""};
    return {"shm_fs", verdict::problem,
            s.dir + " is not tmpfs (" + s.mount.type + " mounted on " + s.mount.point +
                "): arrays there are files the kernel writes back to disk, not memory",
            fix};
}

check check_shm_space(const shm_directory_state& s) {
    if (!usable(s)) return skipped("shm_space", s);
    if (s.tmpfs && s.size == 0)
        return {"shm_space", verdict::ok,
                "no size limit (size=0), " + human_bytes(s.used) + " used", ""};
    const std::string detail = "size " + human_bytes(s.size) + ", " + human_bytes(s.free) +
                               " free, " + human_bytes(s.used) + " used";
    if (!s.tmpfs || s.size >= gib) return {"shm_space", verdict::ok, detail, ""};
    return {"shm_space", verdict::note,
            detail +
                ": smaller than 1 GiB, the arrays it holds are small (Docker's default "
                "/dev/shm is 64 MB)",
            "run the container with --shm-size=8g (or what the arrays need), or set "
            "SHMPOOL_SHM_DIR to a larger tmpfs directory"};
}

std::string remount_huge(const std::string& point) {
    return "as root, `mount -o remount,huge=within_size " + point +
           "` backs large arrays with 2 MiB pages; measured on a 2-vCPU VM: np_shared at 10,000 "
           "x 8,000 end to end in 0.17 s instead of 0.51 s";
}

check check_shm_huge_pages(const shm_directory_state& s) {
    if (!usable(s)) return skipped("shm_huge_pages", s);
    if (!s.tmpfs)
        return {"shm_huge_pages", verdict::ok, "does not apply: " + s.dir + " is not tmpfs", ""};
    const std::string huge = mount_option(s.mount.options, "huge");
    const std::string shmem = bracketed(first_line(thp_dir + "shmem_enabled"));
    const std::string detail = "huge=" + (huge.empty() ? "never (no huge= option)" : huge) +
                               " on " + s.mount.point + " (/proc/self/mounts)";
    if (shmem.empty())
        return {"shm_huge_pages", verdict::note,
                detail + "; this kernel has no transparent huge pages for shared memory", ""};
    if (shmem == "force")
        return {"shm_huge_pages", verdict::ok,
                detail +
                    "; shmem_enabled [force] gives every "
                    "tmpfs 2 MiB pages whatever huge= says",
                ""};
    if (shmem == "deny")
        return {"shm_huge_pages", verdict::note,
                detail + "; shmem_enabled [deny] disables huge pages on every tmpfs",
                "as root, `echo never > " + thp_dir + "shmem_enabled` (lifts deny), then " +
                    remount_huge(s.mount.point)};
    if (huge == "within_size" || huge == "always")
        return {"shm_huge_pages", verdict::ok, detail + ": large arrays get 2 MiB pages", ""};
    return {"shm_huge_pages", verdict::note, detail + ": arrays get 4 KiB pages",
            remount_huge(s.mount.point)};
}

check check_transparent_huge_pages() {
    const std::string enabled = bracketed(first_line(thp_dir + "enabled"));
    const std::string shmem = bracketed(first_line(thp_dir + "shmem_enabled"));
    if (enabled.empty() && shmem.empty())
        return {"transparent_huge_pages", verdict::note,
                "this kernel has no transparent huge pages (no " + thp_dir + ")", ""};
    const std::string detail =
        "enabled [" + enabled + "] (private memory), shmem_enabled [" + shmem +
        "] (SysV and memfd shared memory; a tmpfs follows its huge= option unless this is deny "
        "or force)";
    if (shmem == "deny") return {"transparent_huge_pages", verdict::note, detail, ""};
    return {"transparent_huge_pages", verdict::ok, detail, ""};
}

check check_memory(const shm_directory_state& s) {
    const auto meminfo = read_meminfo();
    const auto field = [&](const char* key) {
        const auto it = meminfo.find(key);
        return it == meminfo.end() ? std::uint64_t{0} : it->second;
    };
    const std::uint64_t room = field("MemAvailable") + field("SwapFree");
    std::string detail = "MemTotal " + human_bytes(field("MemTotal")) + ", MemAvailable " +
                         human_bytes(field("MemAvailable")) + ", SwapFree " +
                         human_bytes(field("SwapFree"));
    if (!usable(s) || !s.tmpfs) return {"memory", verdict::ok, detail, ""};
    const bool unlimited = s.size == 0;
    if (!unlimited && s.free <= room)
        return {"memory", verdict::ok,
                detail + "; the " + human_bytes(s.free) + " free in " + s.dir +
                    " fit in memory and swap",
                ""};
    detail += "; " + s.dir + " may still take " +
              (unlimited ? "anything (no size limit)" : human_bytes(s.free)) +
              ", more than memory and swap can give (" + human_bytes(room) +
              "): an array that big would get the OOM killer (shmpool's create() refuses one up "
              "front, numpy and other programs do not)";
    // A note, not a problem: a tmpfs as large as memory is common (and /dev/shm's default is
    // half of it); shmpool itself refuses an array that does not fit.
    const std::uint64_t cap_mib = (s.used + mib - 1) / mib + room / mib;
    return {"memory", verdict::note, detail,
            "as root, `mount -o remount,size=" + std::to_string(cap_mib) + "m " + s.mount.point +
                "` caps it at what memory can hold now; or add memory or swap"};
}

std::string kernel_release() {
    struct utsname u {};
    if (::uname(&u) != 0) return "unknown";
    return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

check check_kernel() { return {"kernel", verdict::ok, kernel_release(), ""}; }

check check_populate_write() {
    const int err = probe_populate_write();
    if (err == 0)
        return {"madv_populate_write", verdict::ok,
                "MADV_POPULATE_WRITE works (Linux 5.14+): array creation populates the pages "
                "from several threads",
                ""};
    return {"madv_populate_write", verdict::note,
            "MADV_POPULATE_WRITE fails (" + std::string(std::strerror(err)) +
                "; it needs Linux 5.14+): array creation reserves the space instead "
                "(posix_fallocate) and pages are mapped where they are first touched",
            "a Linux 5.14 or newer kernel"};
}

check check_o_tmpfile(const shm_directory_state& s, bool& supported) {
    supported = false;
    if (!usable(s)) return skipped("o_tmpfile", s);
    const int err = probe_o_tmpfile(s.dir);
    supported = err == 0;
    if (supported)
        return {"o_tmpfile", verdict::ok,
                "O_TMPFILE works on " + s.dir +
                    ": an array is built unnamed and appears under its name complete (atomic "
                    "creation)",
                ""};
    if (err == EOPNOTSUPP || err == EISDIR || err == EINVAL)
        return {"o_tmpfile", verdict::note,
                "no O_TMPFILE on " + s.dir + " (" + s.mount.type +
                    "): an array is built under a temporary name, then renamed "
                    "(renameat2 RENAME_NOREPLACE)",
                ""};
    return {"o_tmpfile", verdict::problem,
            "cannot create a file in " + s.dir + ": " + std::strerror(err),
            "give this user write access to " + s.dir +
                ", or set SHMPOOL_SHM_DIR to a tmpfs directory it can write"};
}

check check_rename_noreplace(const shm_directory_state& s, bool o_tmpfile) {
    if (!usable(s)) return skipped("renameat2_noreplace", s);
    int setup_error = 0;
    const int err = probe_rename_noreplace(s.dir, setup_error);
    if (setup_error != 0)
        return {"renameat2_noreplace", verdict::note,
                "not checked: cannot create a file in " + s.dir + ": " + std::strerror(setup_error),
                ""};
    if (err == 0)
        return {"renameat2_noreplace", verdict::ok,
                "renameat2 RENAME_NOREPLACE works on " + s.dir +
                    ": a creation never takes over a name another process took",
                ""};
    const std::string why = err == EEXIST ? "it replaced an existing file (flag ignored)"
                                          : std::string(std::strerror(err));
    const bool needed = !o_tmpfile;  // only creations without O_TMPFILE rename
    return {"renameat2_noreplace", needed ? verdict::problem : verdict::note,
            "renameat2 RENAME_NOREPLACE fails on " + s.dir + ": " + why +
                (needed ? "; without O_TMPFILE, array creation needs it"
                        : "; only needed where O_TMPFILE is missing"),
            needed ? "set SHMPOOL_SHM_DIR to a tmpfs directory" : ""};
}

check check_pidfd_open() {
    const int err = probe_pidfd_open();
    if (err == 0) return {"pidfd_open", verdict::ok, "pidfd_open works (Linux 5.3+)", ""};
    return {"pidfd_open", verdict::note,
            "pidfd_open fails (" + std::string(std::strerror(err)) + "; it needs Linux 5.3+)",
            "a Linux 5.3 or newer kernel"};
}

std::string ptrace_scope_text() {
    const std::string scope = first_line("/proc/sys/kernel/yama/ptrace_scope");
    const std::string meaning = scope == "0"   ? "classic: a process may attach to its user's"
                                : scope == "1" ? "restricted: only to its descendants"
                                : scope == "2" ? "admin-only: CAP_SYS_PTRACE"
                                : scope == "3" ? "no attaching at all"
                                               : "unknown";
    if (scope.empty()) return "Yama is not enabled (no /proc/sys/kernel/yama/ptrace_scope)";
    return "yama ptrace_scope " + scope + " (" + meaning +
           "; it limits attaching, as gdb and strace do, not reading smaps)";
}

check check_mem_permissions() {
    const std::string yama = ptrace_scope_text();
    const bool root = ::geteuid() == 0;
    if (has_cap_sys_ptrace())
        return {"mem_permissions", verdict::ok,
                std::string(root ? "root with CAP_SYS_PTRACE" : "CAP_SYS_PTRACE") +
                    ": `shmpool mem` reads every process's /proc/PID/smaps; " + yama,
                ""};
    const std::optional<mount_entry> proc = mount_of("/proc");
    const std::string hidepid = proc ? mount_option(proc->options, "hidepid") : "";
    return {"mem_permissions", verdict::note,
            std::string(root ? "root without CAP_SYS_PTRACE (a container?)" : "not root") +
                ": `shmpool mem` reads only this user's processes; other users' /proc/PID/smaps "
                "need root with CAP_SYS_PTRACE" +
                (hidepid.empty() ? "" : "; /proc is mounted hidepid=" + hidepid) + "; " + yama,
            root ? "run the container with --cap-add SYS_PTRACE"
                 : "`sudo shmpool mem ...` for other users' processes"};
}

check check_leftovers(const shm_directory_state& s) {
    if (!usable(s)) return skipped("leftovers", s);
    std::vector<array_info> arrays;
    try {
        arrays = list_arrays();
    } catch (const std::exception& e) {
        return {"leftovers", verdict::problem, std::string("cannot list the arrays: ") + e.what(),
                ""};
    }
    std::size_t count = 0, bytes = 0;
    std::string names;
    for (const array_info& a : arrays) {
        if (!a.made_by_shmpool || a.creator_alive || a.persistent) continue;
        if (++count <= 3) names += (names.empty() ? "" : ", ") + a.name;
        bytes += a.file_bytes;
    }
    if (count == 0)
        return {"leftovers", verdict::ok,
                "no array left behind by a process that died (" + std::to_string(arrays.size()) +
                    " in " + s.dir + ")",
                ""};
    return {"leftovers", verdict::note,
            std::to_string(count) + " non-persistent array" + (count == 1 ? "" : "s") + " (" +
                human_bytes(bytes) + ") whose creator died: " + names + (count > 3 ? ", ..." : ""),
            "`shmpool gc` removes them"};
}

std::vector<check> run_checks(const shm_directory_state& s) {
    bool o_tmpfile = false;
    std::vector<check> checks{check_shm_fs(s),         check_shm_space(s),
                              check_shm_huge_pages(s), check_transparent_huge_pages(),
                              check_memory(s),         check_kernel(),
                              check_populate_write()};
    checks.push_back(check_o_tmpfile(s, o_tmpfile));
    checks.push_back(check_rename_noreplace(s, o_tmpfile));
    checks.push_back(check_pidfd_open());
    checks.push_back(check_mem_permissions());
    checks.push_back(check_leftovers(s));
    return checks;
}

std::size_t count_of(const std::vector<check>& checks, verdict v) {
    std::size_t n = 0;
    for (const check& c : checks) n += c.result == v;
    return n;
}

std::string plural(std::size_t n, const std::string& word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void print_text(const shm_directory_state& s, const std::vector<check>& checks) {
    std::cout << "shmpool doctor: shm directory " << s.dir
              << (s.from_env ? " (SHMPOOL_SHM_DIR)" : "") << "\n\n";
    std::size_t width = 0;
    for (const check& c : checks) width = std::max(width, c.name.size());
    const std::string indent(8 + 1 + width + 1, ' ');
    for (const check& c : checks) {
        std::string head = verdict_name(c.result);
        head.resize(8, ' ');
        std::string name = c.name;
        name.resize(width, ' ');
        std::cout << head << ' ' << name << ' ' << c.detail << '\n';
        if (!c.fix.empty()) std::cout << indent << "fix: " << c.fix << '\n';
    }
    const std::size_t problems = count_of(checks, verdict::problem);
    std::cout << '\n'
              << plural(problems, "problem") << ", "
              << plural(count_of(checks, verdict::note), "note")
              << (problems > 0 ? " (exit code 1)" : "") << '\n';
}

void print_json_report(const shm_directory_state& s, const std::vector<check>& checks) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const check& c : checks)
        list.push_back({{"name", c.name},
                        {"verdict", verdict_name(c.result)},
                        {"detail", c.detail},
                        {"fix", c.fix.empty() ? nlohmann::ordered_json(nullptr)
                                              : nlohmann::ordered_json(c.fix)}});
    print_json({{"shm_dir", s.dir},
                {"checks", list},
                {"problems", count_of(checks, verdict::problem)},
                {"notes", count_of(checks, verdict::note)}});
}

}  // namespace

int run_doctor(bool json) {
    const shm_directory_state s = look_at_shm_directory();
    const std::vector<check> checks = run_checks(s);
    if (json)
        print_json_report(s, checks);
    else
        print_text(s, checks);
    return count_of(checks, verdict::problem) > 0 ? exit_failed : exit_ok;
}

}  // namespace shmpool::cli
