// Creating a segment: checked shape and space, built in an unnamed file, header and trailer
// written, linked under its name atomically, populated from several threads, then mapped.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>

#include "exit_cleanup.hpp"
#include "open_existing.hpp"
#include "os.hpp"
#include "progress_line.hpp"
#include "segment_format.hpp"
#include "segment_table.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {
namespace {

std::string shape_text(const std::vector<std::size_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

std::string gib_text(std::size_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f GiB (%zu bytes)", static_cast<double>(bytes) / (1 << 30),
                  bytes);
    return buf;
}

// Removes a named temporary file unless disarmed.
struct temp_name_guard {
    std::string path;
    ~temp_name_guard() {
        if (!path.empty()) unlink_path(path);
    }
};

std::string temp_name(const std::string& dir, const location& where) {
    static std::atomic<unsigned> counter{0};
    std::string base(where.is_file() ? "array" : where.text());
    if (base.size() > 128) base.resize(128);
    return dir + "/.shmpool-tmp-" + std::to_string(current_pid()) + "-" +
           std::to_string(counter++) + "-" + base;
}

// Says, of a name that is taken, what holds it and whether its creator still runs: a creator
// that died without cleaning up (SIGKILL, a crash) left it, and `shmpool gc` removes it.
already_exists_error already_exists(const location& where, segment_kind kind) {
    const std::string path = where.path();
    std::string what = where.describe(kind_name(kind)) + " already exists (" + path + ")";
    std::string remedy = "remove it first (" + std::string(kind_name(kind)) +
                         "<T>::remove or `shmpool rm " + std::string(where.text()) +
                         "`), or create with create_options{.replace_existing = true}";
    try {
        const file_descriptor fd = open_existing(where, O_RDONLY, kind);
        const segment_description d = describe_fd(fd.get(), path, who_of(where));
        if (d.trailer) {
            const pid_t creator = static_cast<pid_t>(d.trailer->creator_pid);
            const bool alive = creator_running(*d.trailer);
            what = where.describe(kind_name(d.identity.kind)) + " already exists (" + path +
                   "), created by process " + std::to_string(creator) +
                   (!created_on_this_host(*d.trailer)
                        ? " of another host (or before this machine's last boot), which cannot "
                          "be checked from here"
                    : alive ? ", which still runs"
                            : ", which is no longer running: it died without removing it");
            if (!alive && !(d.trailer->flags & trailer_persistent))
                remedy = "`shmpool gc` removes it (with every array whose creator died), `shmpool "
                         "rm " + std::string(where.text()) + "` this one; or create with "
                         "create_options{.replace_existing = true}";
        }
    } catch (const error&) {  // not an array, unreadable: the plain message says enough
    }
    return already_exists_error(what + ": " + remedy);
}

void publish(int fd, const std::string& temp, const location& where, bool replace,
             segment_kind kind) {
    const std::string path = where.path();
    const auto taken = [&] { return already_exists(where, kind); };
    if (temp.empty()) {  // an unnamed O_TMPFILE file: give it its name atomically
        if (link_fd(fd, path) == 0) return;
        if (!replace) throw taken();
        temp_name_guard staged{temp_name(where.directory(), where)};
        link_fd(fd, staged.path);
        if (int err = rename_path(staged.path, path, true))
            throw_errno(err, "cannot replace " + path);
        staged.path.clear();
        return;
    }
    if (int err = rename_path(temp, path, replace)) {
        if (err == EEXIST) throw taken();
        throw_errno(err, "cannot create " + path);
    }
}

std::int64_t unix_ns_now() {
    using namespace std::chrono;
    return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

// Whether a new segment stays when its creator exits: persistent ones, and every file-backed
// array (a file the program wrote, which its exit does not delete).
bool kept(const location& where, const create_options& opts) {
    return opts.persistent || where.is_file();
}

void write_trailer(std::byte* at, std::size_t data_bytes, bool persistent,
                   const segment_identity& identity, const segment_creator* creator) {
    segment_trailer t{};
    std::memcpy(t.magic, trailer_magic, sizeof t.magic);
    t.layout_version = trailer_layout_version;
    t.identity = identity;
    t.flags = persistent ? trailer_persistent : 0;
    t.creator_pid = current_pid();
    t.creator_start_time = process_start_time(current_pid());
    t.created_unix_ns = unix_ns_now();
    std::memcpy(t.creator_boot_id, boot_id().data(), sizeof t.creator_boot_id);
    if (creator) {
        t.creator_pid = creator->pid;
        t.creator_start_time = creator->start_time;
        std::memcpy(t.creator_boot_id, creator->boot_id, sizeof t.creator_boot_id);
    }
    t.data_bytes = data_bytes;
    std::memcpy(at, &t, sizeof t);
}

no_space_error no_space(const location& where, const std::string& dir, std::size_t needed,
                        std::size_t available) {
    return no_space_error("not enough room in " + dir + " for " + where.describe() + ": it needs " +
                              gib_text(needed) + ", " + gib_text(available) +
                              " are free; free some space (`shmpool ls`, `shmpool gc`), make the "
                              "array smaller, or grow the file system",
                          needed, available);
}

void check_space(const location& where, const std::string& dir, std::size_t needed) {
    const std::size_t available = free_bytes(dir);
    if (available < needed) throw no_space(where, dir, needed, available);
    if (where.is_file()) return;
    const std::size_t memory = available_memory_bytes();  // /dev/shm pages live in memory
    if (memory != 0 && memory < needed)
        throw no_space_error("not enough memory for " + where.describe() + ": it needs " +
                                 gib_text(needed) + ", the system has " + gib_text(memory) +
                                 " available (MemAvailable + SwapFree), and an array in " + dir +
                                 " lives in memory; make it smaller, free memory, or back it "
                                 "with a file (shmpool::file_path)",
                             needed, memory);
}

// Reserves the bytes [offset, offset + length) of a new segment.
void reserve_space(int fd, const location& where, const segment_layout& layout, std::size_t offset,
                   std::size_t length) {
    const int err = reserve_fd(fd, offset, length);
    if (err == 0 || err == EOPNOTSUPP || err == EINVAL) return;
    if (err == ENOSPC)
        throw no_space(where, where.directory(), layout.total_bytes, free_bytes(where.directory()));
    throw_errno(err, "cannot reserve space for " + where.path());
}

// Allocates the new segment's pages and maps them writable (a kernel before 5.14 cannot: the
// space is reserved instead, the pages come on first touch). When the file system runs out of
// room meanwhile (another process took it since check_space), the segment is removed again and
// no_space_error thrown: it would otherwise die of SIGBUS on a later write.
void populate(int fd, const mapped_region& region, const location& where, const segment_id& id,
              const segment_layout& layout, progress show) {
    const std::string what = "creating " + std::string(where.text()) + ": ";
    progress_line line(show, region.size(), what.c_str(), true);
    int err = populate_writable(region.data(), region.size(),
                                [&line](std::size_t done) { line.update(done); });
    if (err == EINVAL) err = reserve_fd(fd, 0, layout.total_bytes);  // before Linux 5.14
    if (err == 0 || err == EOPNOTSUPP || err == EINVAL) return;
    const std::string path = where.path();
    if (path_leads_to(path, id)) unlink_path(path);
    forget_owned_segment(path);
    if (err == EFAULT || err == ENOSPC)
        throw no_space(where, where.directory(), layout.total_bytes, free_bytes(where.directory()));
    throw_errno(err, "cannot allocate the pages of " + path);
}

// path opened again, if it still leads to segment `id`; an empty descriptor otherwise.
file_descriptor reopen_same(const std::string& path, const segment_id& id) {
    int err = 0;
    file_descriptor fd = try_open_file(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0, err);
    if (fd && !(id_of(stat_fd(fd.get(), path)) == id)) return {};
    return fd;
}

void check_new_shape(const location& where, dtype type, const std::vector<std::size_t>& shape,
                     const std::optional<segment_layout>& layout) {
    if (shape.empty() || shape.size() > max_rank)
        throw invalid_argument_error("cannot create " + where.describe() + ": rank " +
                                     std::to_string(shape.size()) + " is outside 1.." +
                                     std::to_string(max_rank));
    if (!layout)
        throw invalid_argument_error("cannot create " + where.describe() + ": shape " +
                                     shape_text(shape) + " of " + std::string(dtype_name(type)) +
                                     " is too large, its byte size overflows");
}

// Takes the space of a new segment's file. On tmpfs, reserving allocates every page from one
// thread (the inode is locked); populating allocates them from several and reports a shortage
// all the same (see populate), by removing the new array: an array it replaces must not be lost
// that way, so reserve then. The pages written before the name appears (header, trailer, init)
// are reserved always.
void take_space(int fd, const location& where, const segment_layout& layout,
                const create_options& opts, bool replacing, bool initialized) {
    if (!opts.populate || replacing || initialized || !on_tmpfs(fd)) {
        reserve_space(fd, where, layout, 0, layout.total_bytes);
        return;
    }
    reserve_space(fd, where, layout, 0, layout.data_offset);
    reserve_space(fd, where, layout, layout.trailer_offset,
                  layout.total_bytes - layout.trailer_offset);
}

// The header, the trailer and `init`'s data, written while the file has no name yet.
void fill_in(int fd, const location& where, dtype type, const std::vector<std::size_t>& shape,
             const segment_layout& layout, const create_options& opts, segment_initializer init,
             const segment_identity& identity, const segment_creator* creator) {
    const mapped_region staging = map_fd(fd, layout.total_bytes, where.path());
    const std::string header = format_npy_header(npy_descr(type), shape);
    std::memcpy(staging.data(), header.data(), header.size());
    write_trailer(staging.data() + layout.trailer_offset, layout.data_bytes, kept(where, opts),
                  identity, creator);
    if (init.init) init.init(staging.data() + layout.data_offset, init.arg);
}

}  // namespace

mapped_segment& create_segment(const location& where, dtype type,
                               const std::vector<std::size_t>& shape,
                               const create_options& asked, view_factory make_view,
                               segment_initializer init, const segment_identity& identity,
                               const segment_creator* creator) {
    create_options opts = asked;
    opts.persistent = opts.persistent || (creator && creator->persistent);
    // Another process's segment: it is not this process's to remove at exit.
    const bool mine = !creator || (creator->pid == current_pid() &&
                                   creator->start_time == process_start_time(current_pid()));
    const std::optional<segment_layout> layout = layout_for(type, shape);
    check_new_shape(where, type, shape, layout);
    const std::string path = where.path();
    const std::string dir = where.directory();
    struct stat st {};
    const bool exists = lstat_path(path, st);
    if (exists && !opts.replace_existing) throw already_exists(where, identity.kind);
    check_space(where, dir, layout->total_bytes);

    temp_name_guard named;  // only used where the file system has no O_TMPFILE
    file_descriptor fd = open_unnamed_file(dir, 0600);
    if (!fd) {
        named.path = temp_name(dir, where);
        fd = open_file(named.path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    }
    set_mode(fd.get(), opts.mode, path);
    truncate_fd(fd.get(), layout->total_bytes, path);
    take_space(fd.get(), where, *layout, opts, exists, init.init != nullptr);
    fill_in(fd.get(), where, type, shape, *layout, opts, init, identity, creator);
    publish(fd.get(), named.path, where, opts.replace_existing, identity.kind);
    named.path.clear();
    const segment_id id = id_of(stat_fd(fd.get(), path));
    if (mine && !kept(where, opts)) {  // from now on, an interrupted creator removes it
        install_termination_handlers();
        remember_owned_segment(path);
    }
    // Map it through its name, so that smaps and pmap show /dev/shm/NAME and not the unnamed
    // file it was built in ("/dev/shm/#1234 (deleted)"). If the name was replaced meanwhile,
    // map what we built all the same.
    file_descriptor by_name = reopen_same(path, id);
    mapped_region region = map_fd(by_name ? by_name.get() : fd.get(), layout->total_bytes, path);
    if (opts.populate) populate(fd.get(), region, where, id, *layout, opts.show_progress);

    table_entry e;
    e.seg.count = layout->data_bytes / dtype_size(type);
    e.seg.shape = shape;
    e.seg.type = type;
    e.seg.id = id;
    e.seg.where = where;
    e.seg.identity = identity;
    e.region = std::move(region);
    e.owner = mine ? current_pid() : 0;
    e.persistent = kept(where, opts);
    return segment_table::get().add(std::move(e), layout->data_offset, make_view);
}

std::optional<segment_creator> creator_of(const location& where) {
    const std::string path = where.path();
    const file_descriptor fd = open_existing(where, O_RDONLY);
    const segment_description d = describe_fd(fd.get(), path, where.describe() + " (" + path + ")");
    if (!d.trailer) return std::nullopt;
    segment_creator c;
    c.pid = d.trailer->creator_pid;
    c.start_time = d.trailer->creator_start_time;
    std::memcpy(c.boot_id, d.trailer->creator_boot_id, sizeof c.boot_id);
    c.persistent = (d.trailer->flags & trailer_persistent) != 0;
    return c;
}

}  // namespace shmpool::detail
