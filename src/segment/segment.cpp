#include "shmpool/detail/segment.hpp"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>

#include "exit_cleanup.hpp"
#include "os.hpp"
#include "progress_line.hpp"
#include "open_existing.hpp"
#include "segment_format.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

// ---------------------------------------------------------------------------------------------
// location

location location::shm(std::string_view name) {
    const std::string shown(name);
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    if (name.empty())
        throw invalid_argument_error("array name '" + shown +
                                     "' is empty: give a name such as 'grid'");
    if (name.find('\0') != std::string_view::npos)
        throw invalid_argument_error("an array name holds a NUL byte");
    if (name.find('/') != std::string_view::npos)
        throw invalid_argument_error(
            "array name '" + shown + "' contains '/': names in " + shm_directory() +
            " are flat; to back an array with a file, pass shmpool::file_path{\"" + shown + "\"}");
    if (name == "." || name == "..")
        throw invalid_argument_error("array name '" + shown + "' is not a usable file name");
    if (name.size() > NAME_MAX)
        throw invalid_argument_error("array name '" + shown.substr(0, 40) + "...' is " +
                                     std::to_string(name.size()) + " bytes long; the OS allows " +
                                     std::to_string(NAME_MAX));
    location l;
    std::memcpy(l.text_, name.data(), name.size());
    l.length_ = static_cast<std::uint16_t>(name.size());
    return l;
}

location location::file(std::string_view path) {
    const std::string shown(path);
    if (path.empty()) throw invalid_argument_error("array file path is empty");
    if (path.find('\0') != std::string_view::npos)
        throw invalid_argument_error("an array file path holds a NUL byte");
    if (path.size() > max_location_length)
        throw invalid_argument_error("array file path '" + shown.substr(0, 40) + "...' is " +
                                     std::to_string(path.size()) + " bytes long; shmpool allows " +
                                     std::to_string(max_location_length));
    if (path.back() == '/')
        throw invalid_argument_error("array file path '" + shown + "' names a directory");
    location l;
    std::memcpy(l.text_, path.data(), path.size());
    l.length_ = static_cast<std::uint16_t>(path.size());
    l.is_file_ = true;
    return l;
}

std::string location::path() const {
    if (is_file_) return std::string(text());
    return shm_directory() + "/" + std::string(text());
}

std::string location::directory() const {
    if (!is_file_) return shm_directory();
    const std::string p(text());
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : p.substr(0, slash);
}

std::string location::describe(std::string_view kind) const {
    return std::string(kind) + (is_file_ ? " file '" : " '") + std::string(text()) + "'";
}

// ---------------------------------------------------------------------------------------------
// This process's table of mapped segments.

namespace {

struct table_entry {
    mapped_segment seg;
    mapped_region region;
    pid_t owner = 0;  // the creating process, which removes it at exit unless persistent
    bool persistent = false;
};

std::string who_of(const location& where) {
    return where.describe() + " (" + where.path() + ")";
}

segment_id id_of(const struct stat& st) {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool path_leads_to(const std::string& path, const segment_id& id) {
    struct stat st{};
    try {
        return lstat_path(path, st) && id_of(st) == id;
    } catch (const error&) {
        return false;
    }
}

class segment_table {
public:
    static segment_table& get() {
        // Never destroyed: handles may be used from static destructors, and the exit hook below
        // must still find the table.
        static segment_table* table = [] {
            auto* t = new segment_table;
            on_fork([] { get().mu_.lock(); }, [] { get().mu_.unlock(); },
                             [] { get().mu_.unlock(); });
            std::atexit([] { get().remove_owned_at_exit(); });
            return t;
        }();
        return *table;
    }

    mapped_segment* find_mapped(const segment_id& id) {
        std::lock_guard lock(mu_);
        table_entry* e = lookup(id);
        return e && e->seg.data ? &e->seg : nullptr;
    }

    // Adds a freshly mapped segment, or returns the one already mapped with the same id.
    mapped_segment& add(table_entry fresh, std::size_t data_offset, view_factory make_view) {
        std::lock_guard lock(mu_);
        table_entry* e = lookup(fresh.seg.id);
        if (e && e->seg.data) {
            if (fresh.owner) e->owner = fresh.owner, e->persistent = fresh.persistent;
            return e->seg;
        }
        if (!e) e = &entries_.emplace_back();
        *e = std::move(fresh);
        e->seg.data = e->region.data() + data_offset;
        e->seg.view = make_view(e->seg);
        e->seg.make_view = make_view;
        return e->seg;
    }

    void unmap(const segment_id& id) {
        std::lock_guard lock(mu_);
        if (table_entry* e = lookup(id)) unmap(*e);
    }

    std::size_t release_removed() {
        std::lock_guard lock(mu_);
        std::size_t n = 0;
        for (table_entry& e : entries_) {
            if (e.seg.data && !path_leads_to(e.seg.where.path(), e.seg.id)) {
                unmap(e);
                ++n;
            }
        }
        return n;
    }

    void unmap_all() noexcept {
        std::lock_guard lock(mu_);
        for (table_entry& e : entries_) unmap(e);
    }

private:
    table_entry* lookup(const segment_id& id) {
        for (table_entry& e : entries_)
            if (e.seg.id == id) return &e;
        return nullptr;
    }

    static void unmap(table_entry& e) {
        e.seg.view.reset();
        e.seg.data = nullptr;
        e.region.reset();
    }

    void remove_owned_at_exit() noexcept {
        std::lock_guard lock(mu_);
        const pid_t me = current_pid();
        for (table_entry& e : entries_) {
            if (e.owner != me || e.persistent || !e.seg.data) continue;
            const std::string path = e.seg.where.path();
            if (path_leads_to(path, e.seg.id)) unlink_path(path);
        }
    }

    std::mutex mu_;
    std::deque<table_entry> entries_;  // a deque keeps addresses stable
};

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

void publish(int fd, const std::string& temp, const location& where, bool replace) {
    const std::string path = where.path();
    const auto taken = [&] {
        return already_exists_error(
            where.describe() + " already exists (" + path +
            "): remove it first (shared_array<T>::remove or `shmpool rm`), or create with "
            "create_options{.replace_existing = true}");
    };
    if (temp.empty()) {  // an unnamed O_TMPFILE file: give it its name atomically
        if (link_fd(fd, path) == 0) return;
        if (!replace) throw taken();
        temp_name_guard staged{temp_name(where.directory(), where)};
        link_fd(fd, staged.path);
        if (int err = rename_path(staged.path, path, true)) throw_errno(err, "cannot replace " + path);
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

void write_trailer(std::byte* at, std::size_t data_bytes, bool persistent) {
    segment_trailer t{};
    std::memcpy(t.magic, trailer_magic, sizeof t.magic);
    t.layout_version = 1;
    t.flags = persistent ? trailer_persistent : 0;
    t.creator_pid = current_pid();
    t.creator_start_time = process_start_time(current_pid());
    t.created_unix_ns = unix_ns_now();
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
             const segment_layout& layout, const create_options& opts, segment_initializer init) {
    const mapped_region staging = map_fd(fd, layout.total_bytes, where.path());
    const std::string header = format_npy_header(npy_descr(type), shape);
    std::memcpy(staging.data(), header.data(), header.size());
    write_trailer(staging.data() + layout.trailer_offset, layout.data_bytes, opts.persistent);
    if (init.init) init.init(staging.data() + layout.data_offset, init.arg);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// create, open, find, remove

mapped_segment& create_segment(const location& where, dtype type,
                               const std::vector<std::size_t>& shape, const create_options& opts,
                               view_factory make_view, segment_initializer init) {
    const std::optional<segment_layout> layout = layout_for(type, shape);
    check_new_shape(where, type, shape, layout);
    const std::string path = where.path();
    const std::string dir = where.directory();
    struct stat st{};
    const bool exists = lstat_path(path, st);
    if (exists && !opts.replace_existing)
        throw already_exists_error(
            where.describe() + " already exists (" + path +
            "): remove it first (shared_array<T>::remove or `shmpool rm`), or create with "
            "create_options{.replace_existing = true}");
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
    fill_in(fd.get(), where, type, shape, *layout, opts, init);
    publish(fd.get(), named.path, where, opts.replace_existing);
    named.path.clear();
    const segment_id id = id_of(stat_fd(fd.get(), path));
    if (!opts.persistent) {  // from now on, an interrupted creator removes it
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
    e.region = std::move(region);
    e.owner = current_pid();
    e.persistent = opts.persistent;
    return segment_table::get().add(std::move(e), layout->data_offset, make_view);
}

namespace {

type_mismatch_error type_mismatch(const location& where, dtype held, dtype wanted) {
    return type_mismatch_error(where.describe() + " holds " + std::string(dtype_name(held)) +
                               ", not " + std::string(dtype_name(wanted)) +
                               ": open it with the element type that matches " +
                               std::string(dtype_name(held)));
}

// A segment already mapped here serves a handle of element type `type` built by `make_view`
// only if both match what it was first mapped with.
mapped_segment& checked(mapped_segment& s, dtype type, view_factory make_view) {
    if (s.type != type) throw type_mismatch(s.where, s.type, type);
    if (s.make_view != make_view)
        throw type_mismatch_error(
            s.where.describe() + " (" + std::string(dtype_name(type)) +
            ") is already mapped in this process through another C++ type of the same size "
            "(for example long and long long); use one element type per array in a process");
    return s;
}

}  // namespace

file_descriptor open_existing(const location& where, int flags) {
    const std::string path = where.path();
    int err = 0;
    // O_NONBLOCK: a FIFO under the name must not hang us; for regular files it changes nothing.
    file_descriptor fd = try_open_file(path, flags | O_NOFOLLOW | O_NONBLOCK, 0, err);
    if (fd) {
        if (!S_ISREG(stat_fd(fd.get(), path).st_mode))
            throw format_error(who_of(where) + " is not a regular file, so not an array");
        return fd;
    }
    if (err == EISDIR)
        throw format_error(who_of(where) + " is a directory, so not an array");
    if (err == ENOENT)
        throw not_found_error(where.describe() + " does not exist: there is no " + path +
                              (where.is_file() ? ""
                                               : "; create it with shared_array<T>::create, or "
                                                 "list the arrays with `shmpool ls`"));
    if (err == ELOOP)
        throw error(who_of(where) + " is a symbolic link; shmpool does not follow links");
    if (err == EACCES)
        throw system_error(std::error_code(err, std::generic_category()),
                           "cannot open " + who_of(where) +
                               " (its mode or owner does not let this user attach)");
    throw_errno(err, "cannot open " + who_of(where));
}

namespace {

mapped_segment& attach(const location& where, dtype type, view_factory make_view,
                       const segment_id* expected) {
    const std::string path = where.path();
    file_descriptor fd = open_existing(where, O_RDWR);
    const struct stat st = stat_fd(fd.get(), path);
    const segment_id id = id_of(st);
    if (expected && !(id == *expected))
        throw not_found_error(where.describe() +
                              " was removed or replaced since this handle was made; open the "
                              "new one with shared_array<T>::open");
    // Read the header even when the segment is mapped already: a file truncated since then is
    // reported here instead of killing the process with SIGBUS later.
    const segment_description d = describe_fd(fd.get(), path, who_of(where));
    if (mapped_segment* s = segment_table::get().find_mapped(id))
        return checked(*s, type, make_view);
    if (d.type != type) throw type_mismatch(where, d.type, type);
    table_entry e;
    e.seg.count = d.count;
    e.seg.shape = d.header.shape;
    e.seg.type = d.type;
    e.seg.id = id;
    e.seg.where = where;
    e.region = map_fd(fd.get(), d.file_size, path);
    return checked(segment_table::get().add(std::move(e), d.header.data_offset, make_view), type,
                   make_view);
}

}  // namespace

mapped_segment& open_segment(const location& where, dtype type, view_factory make_view) {
    return attach(where, type, make_view, nullptr);
}

mapped_segment& find_segment(const location& where, const segment_id& id, dtype type,
                             view_factory make_view) {
    // Handles copied into another process (pool tasks) come here on every access: remember the
    // last answer per thread so that a task touching one array per index takes no lock.
    thread_local struct {
        pid_t pid = 0;
        segment_id id;
        mapped_segment* seg = nullptr;
    } last;
    if (last.seg && last.pid == current_pid() && last.id == id && last.seg->data &&
        last.seg->make_view == make_view)
        return *last.seg;
    mapped_segment* s = segment_table::get().find_mapped(id);
    mapped_segment& found = s ? checked(*s, type, make_view) : attach(where, type, make_view, &id);
    last.pid = current_pid();
    last.id = id;
    last.seg = &found;
    return found;
}

namespace {
std::atomic<std::uint64_t> removals_here{0};
}  // namespace

void remove_segment(const location& where) {
    const std::string path = where.path();
    file_descriptor fd = open_existing(where, O_RDONLY);
    describe_fd(fd.get(), path, who_of(where) + " is left in place: it");
    const segment_id id = id_of(stat_fd(fd.get(), path));
    if (int err = unlink_path(path)) throw_errno(err, "cannot remove " + path);
    forget_owned_segment(path);
    segment_table::get().unmap(id);
    removals_here.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t segments_removed_here() noexcept {
    return removals_here.load(std::memory_order_relaxed);
}

std::size_t release_removed_segments() { return segment_table::get().release_removed(); }

void throw_empty_handle() {
    throw error("shmpool: this handle is empty (default-constructed); assign one made by "
                "create() or open()");
}

void unmap_all_segments() noexcept { segment_table::get().unmap_all(); }

}  // namespace shmpool::detail
