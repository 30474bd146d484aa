// Opening, finding and removing segments: attach by name with the header checked, the
// per-thread cache of the last segment found, removal (and its count, for the pools).
#include "shmpool/detail/segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>

#include "exit_cleanup.hpp"
#include "open_existing.hpp"
#include "os.hpp"
#include "segment_format.hpp"
#include "segment_table.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

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
    if (err == EISDIR) throw format_error(who_of(where) + " is a directory, so not an array");
    if (err == ENOENT)
        throw not_found_error(where.describe() + " does not exist: there is no " + path +
                              (where.is_file() ? ""
                                               : "; create it with shared_array<T>::create, or "
                                                 "list the arrays with `shmpool ls`"));
    if (err == ELOOP)
        throw error(who_of(where) + " is a symbolic link; shmpool does not follow links");
    if (err == EACCES)
        throw system_error(
            std::error_code(err, std::generic_category()),
            "cannot open " + who_of(where) + " (its mode or owner does not let this user attach)");
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

void throw_empty_handle() {
    throw error(
        "shmpool: this handle is empty (default-constructed); assign one made by "
        "create() or open()");
}

}  // namespace shmpool::detail
