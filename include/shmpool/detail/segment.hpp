// Internals shared by the typed front ends (shared_array, later value and raw_value): where a
// segment lives, and this process's table of the segments it has mapped.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmpool/detail/export.hpp"
#include "shmpool/detail/identity.hpp"
#include "shmpool/detail/limits.hpp"
#include "shmpool/detail/pid.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/segment.hpp"

namespace shmpool::detail {

/// Where a segment lives: a name in /dev/shm or a file path. Trivially copyable, so that a
/// handle holding it can be copied byte for byte into another process.
class SHMPOOL_API location {
public:
    /// Validates a /dev/shm name; one leading '/' is accepted, as shm_open does.
    /// Throws invalid_argument_error for an empty name, '/' inside, "." or "..", a NUL byte,
    /// or more than NAME_MAX (255) bytes.
    static location shm(std::string_view name);
    /// Validates a file path: not empty, no NUL, at most max_location_length bytes.
    static location file(std::string_view path);

    /// The name as the user gave it (without a leading '/'), or the file path.
    std::string_view text() const noexcept { return {text_, length_}; }
    bool is_file() const noexcept { return is_file_; }
    /// The file to open: /dev/shm/NAME, or the path itself.
    std::string path() const;
    /// The directory that holds the file.
    std::string directory() const;
    /// "array 'grid'" or "array file '/data/grid.npy'": how messages name the object.
    std::string describe(std::string_view kind = "array") const;

private:
    char text_[max_location_length + 1] = {};
    std::uint16_t length_ = 0;
    bool is_file_ = false;
};

/// Identity of a segment: the device and inode of its file. Two names for one segment (or the
/// same name re-created) are told apart by this, never by the name.
struct segment_id {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    friend bool operator==(const segment_id&, const segment_id&) = default;
};

/// One segment mapped into this process. Entries are never freed while the process lives (only
/// unmapped), so a pointer to one stays valid; `data` is null once the segment is unmapped.
struct mapped_segment {
    std::byte* data = nullptr;  // first element; null once unmapped
    std::size_t count = 0;      // number of elements
    std::vector<std::size_t> shape;
    dtype type = dtype::float64;
    segment_id id;
    location where;
    segment_identity identity;   // what it holds: an array, an object of some type...
    bool writable = true;        // mapped PROT_READ | PROT_WRITE (else read-only)
    std::shared_ptr<void> view;  // the xtensor adaptor of the typed front end
    std::shared_ptr<void> (*make_view)(const mapped_segment&) = nullptr;  // what built `view`
};

/// Builds the typed view of a freshly mapped segment (called under the table's lock).
using view_factory = std::shared_ptr<void> (*)(const mapped_segment&);

/// Throws error("... this handle is empty").
[[noreturn]] SHMPOOL_API void throw_empty_handle();

/// Everything needed to find a typed segment again in any process: what a handle carries.
/// Trivially copyable; function pointers stay valid in forked processes (same program).
struct array_ref {
    location where;
    segment_id id;
    dtype type = dtype::float64;
    view_factory make_view = nullptr;
};

/// Fills in the data of a new segment before any other process can see it (placement-new of
/// the locks and values that live in it).
struct segment_initializer {
    void (*init)(std::byte* data, const void* arg) = nullptr;
    const void* arg = nullptr;
};

/// How a segment is mapped.
enum class access : std::uint8_t { read_write, read_only };

/// Who a segment's trailer says made it, and whether it is kept when that process exits.
struct segment_creator {
    std::int64_t pid = 0;
    std::uint64_t start_time = 0;  // clock ticks since boot
    std::uint8_t boot_id[16] = {};
    bool persistent = false;
};

/// The creator recorded in the trailer of the segment at `where` (nullopt: not made by
/// shmpool). Throws not_found_error, format_error.
SHMPOOL_API std::optional<segment_creator> creator_of(const location& where);

/// Creates, fills in the header of, and maps a new segment; `init` runs on the data before the
/// name appears; `identity` (what it holds) goes into its trailer. Nothing is left behind on
/// failure. With `creator` (a segment replacing one another process made: a compaction), the
/// new one records that creator and its persistence instead of this process, and this
/// process's exit does not remove it (its creator's lifetime, and gc, still apply).
SHMPOOL_API mapped_segment& create_segment(const location& where, dtype type,
                                           const std::vector<std::size_t>& shape,
                                           const create_options& opts, view_factory make_view,
                                           segment_initializer init = {},
                                           const segment_identity& identity = {},
                                           const segment_creator* creator = nullptr);

/// Maps an existing segment (or a .npy file numpy wrote), checking its header against `type`
/// and what it holds against `expected` before anything is mapped: a failed open leaves no
/// state behind. Throws type_mismatch_error naming both sides.
SHMPOOL_API mapped_segment& open_segment(const location& where, dtype type, view_factory make_view,
                                         const segment_identity& expected = {},
                                         access mode = access::read_write);

/// The segment `id` as mapped in this process, attaching it by name when this process has not
/// mapped it yet (a worker forked before the segment existed). Throws not_found_error when the
/// name no longer leads to segment `id`.
SHMPOOL_API mapped_segment& find_segment(const location& where, const segment_id& id, dtype type,
                                         view_factory make_view, access mode = access::read_write);

/// Unlinks the segment's name and unmaps it in this process. Throws not_found_error when there
/// is no such name, format_error when the file there is not an array, type_mismatch_error when
/// it does not hold `expected` (if given); what is not removed is left alone.
SHMPOOL_API void remove_segment(const location& where, const segment_identity* expected = nullptr);

/// find_segment() for an array_ref.
inline mapped_segment& find_segment(const array_ref& ref) {
    return find_segment(ref.where, ref.id, ref.type, ref.make_view);
}

/// The handle part shared by the typed front ends: where the segment is, which one it is, and
/// where it is mapped in the process that made the handle. Trivially copyable; in another
/// process (a copy carried into a pool worker) it finds the segment by name on first use.
class segment_handle {
public:
    segment_handle() = default;
    explicit segment_handle(mapped_segment& s) noexcept
        : where_(s.where), id_(s.id), seg_(&s), pid_(current_pid()) {}

    /// The segment as mapped in this process. Throws error for an empty handle, and as
    /// find_segment() when the segment must be found again.
    mapped_segment& get(dtype type, view_factory make_view, access mode = access::read_write) const;

    const location& where() const noexcept { return where_; }
    const segment_id& id() const noexcept { return id_; }
    bool empty() const noexcept { return seg_ == nullptr; }

private:
    location where_;
    segment_id id_;
    alignas(std::atomic_ref<mapped_segment*>::required_alignment) mutable mapped_segment* seg_ =
        nullptr;  // where it is mapped in process pid_
    alignas(std::atomic_ref<pid_t>::required_alignment) mutable pid_t pid_ = 0;
};

inline mapped_segment& segment_handle::get(dtype type, view_factory make_view, access mode) const {
    // The cache (seg_, pid_) is refreshed in place the first time a copy is used in another
    // process, so only that first use looks the segment up. Atomic accesses: threads may share
    // a handle.
    const pid_t me = current_pid();
    if (std::atomic_ref<pid_t>(pid_).load(std::memory_order_acquire) == me) {
        mapped_segment* seg =
            std::atomic_ref<mapped_segment*>(seg_).load(std::memory_order_relaxed);
        if (seg->data != nullptr) return *seg;
    }
    if (std::atomic_ref<mapped_segment*>(seg_).load(std::memory_order_relaxed) == nullptr)
        throw_empty_handle();
    mapped_segment& found = find_segment(where_, id_, type, make_view, mode);
    std::atomic_ref<mapped_segment*>(seg_).store(&found, std::memory_order_relaxed);
    std::atomic_ref<pid_t>(pid_).store(me, std::memory_order_release);
    return found;
}

/// Unmaps, in this process, segments whose name is gone or now leads to another segment.
/// Returns how many were unmapped. Long-lived workers call it so that removed arrays free their
/// memory.
SHMPOOL_API std::size_t release_removed_segments();

/// How many segments this process has removed so far (remove_segment). A pool publishes it
/// with each call, so that its workers drop removed arrays at once.
SHMPOOL_API std::uint64_t segments_removed_here() noexcept;

/// Unmaps every segment in this process (the pool's helper process, which needs none of the
/// parent's mappings and must not keep removed arrays alive).
SHMPOOL_API void unmap_all_segments() noexcept;

}  // namespace shmpool::detail
