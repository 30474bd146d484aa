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
            s.where.describe(kind_name(s.identity.kind)) + " (" + std::string(dtype_name(type)) +
            ") is already mapped in this process through another C++ type of the same size "
            "(for example long and long long); use one element type per array in a process");
    return s;
}

// "int64", "an array of float64": what a segment of identity `id` holds, for messages.
std::string holding(const segment_identity& id, dtype type) {
    if (id.kind == segment_kind::array) return "an array of " + std::string(dtype_name(type));
    return std::string(kind_name(id.kind)) + "<" + std::string(id.type()) + "> (" +
           std::to_string(id.type_size) + " bytes)";
}

// Checks what the segment holds against what the caller expects, before anything is mapped.
void check_identity(const location& where, const segment_identity& held, dtype held_type,
                    const segment_identity& wanted, dtype wanted_type) {
    if (held == wanted) return;
    const std::string what = where.describe(kind_name(held.kind));
    throw type_mismatch_error(what + " holds " + holding(held, held_type) + ", not " +
                              holding(wanted, wanted_type) + ": open it as " +
                              (held.kind == segment_kind::array
                                   ? "shared_array<T> with T of dtype " +
                                         std::string(dtype_name(held_type))
                                   : std::string(kind_name(held.kind)) + "<" +
                                         std::string(held.type()) + ">") +
                              " (`shmpool info " + std::string(where.text()) + "` shows it)");
}

}  // namespace

file_descriptor open_existing(const location& where, int flags, segment_kind kind) {
    const std::string kind_text(kind_name(kind));
    const std::string create_hint =
        kind == segment_kind::array ? "shared_array<T>::create" : kind_text + "<T>::create";
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
        throw not_found_error(where.describe(kind_text) + " does not exist: there is no " + path +
                              (where.is_file() ? ""
                                               : "; create it with " + create_hint +
                                                     ", or list what exists with `shmpool ls`"));
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
                       const segment_id* expected_id, const segment_identity* expected,
                       access mode) {
    const std::string path = where.path();
    file_descriptor fd =
        open_existing(where, mode == access::read_write ? O_RDWR : O_RDONLY,
                      expected ? expected->kind : segment_kind::array);
    const struct stat st = stat_fd(fd.get(), path);
    const segment_id id = id_of(st);
    if (expected_id && !(id == *expected_id))
        throw not_found_error(where.describe() +
                              " was removed or replaced since this handle was made; open the "
                              "new one with open()");
    // Read the header even when the segment is mapped already: a file truncated since then is
    // reported here instead of killing the process with SIGBUS later.
    const segment_description d = describe_fd(fd.get(), path, who_of(where));
    if (expected) check_identity(where, d.identity, d.type, *expected, type);
    if (mapped_segment* s = segment_table::get().find_mapped(id, mode))
        return checked(*s, type, make_view);
    if (d.type != type && d.identity.kind == segment_kind::array)
        throw type_mismatch(where, d.type, type);
    table_entry e;
    e.seg.count = d.count;
    e.seg.shape = d.header.shape;
    e.seg.type = d.type;
    e.seg.id = id;
    e.seg.where = where;
    e.seg.identity = d.identity;
    e.seg.writable = mode == access::read_write;
    e.region = mode == access::read_write ? map_fd(fd.get(), d.file_size, path)
                                          : map_fd_read_only(fd.get(), d.file_size, path);
    return checked(segment_table::get().add(std::move(e), d.header.data_offset, make_view), type,
                   make_view);
}

}  // namespace

mapped_segment& open_segment(const location& where, dtype type, view_factory make_view,
                             const segment_identity& expected, access mode) {
    return attach(where, type, make_view, nullptr, &expected, mode);
}

mapped_segment& find_segment(const location& where, const segment_id& id, dtype type,
                             view_factory make_view, access mode) {
    // Handles copied into another process (pool tasks) come here on every access: remember the
    // last answer per thread so that a task touching one array per index takes no lock.
    thread_local struct {
        pid_t pid = 0;
        segment_id id;
        mapped_segment* seg = nullptr;
    } last;
    if (last.seg && last.pid == current_pid() && last.id == id && last.seg->data &&
        last.seg->make_view == make_view && (last.seg->writable || mode == access::read_only))
        return *last.seg;
    mapped_segment* s = segment_table::get().find_mapped(id, mode);
    // The segment was checked when its handle was made: find it again by identity, whatever
    // it holds.
    mapped_segment& found = s ? checked(*s, type, make_view)
                              : attach(where, type, make_view, &id, nullptr, mode);
    last.pid = current_pid();
    last.id = id;
    last.seg = &found;
    return found;
}

namespace {
std::atomic<std::uint64_t> removals_here{0};
}  // namespace

void remove_segment(const location& where, const segment_identity* expected) {
    const std::string path = where.path();
    file_descriptor fd =
        open_existing(where, O_RDONLY, expected ? expected->kind : segment_kind::array);
    const segment_description d = describe_fd(fd.get(), path, who_of(where) + " is left in place: it");
    if (expected) check_identity(where, d.identity, d.type, *expected, d.type);
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
