// This process's table of mapped segments: every segment mapped here, found by identity
// (device and inode), with the mapping and who created it; entries are never freed while the
// process lives (only unmapped), so handles may cache a pointer to one.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

#include "os.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool::detail {

struct table_entry {
    mapped_segment seg;
    mapped_region region;
    pid_t owner = 0;  // the creating process, which removes it at exit unless persistent
    bool persistent = false;
};

/// "array 'grid' (/dev/shm/grid)": how messages name a segment and its file.
std::string who_of(const location& where);
/// A segment's identity, from its file's stat.
segment_id id_of(const struct stat& st);
/// Whether `path` is (still) the file of segment `id`.
bool path_leads_to(const std::string& path, const segment_id& id);

class segment_table {
public:
    /// The table of this process (never destroyed: handles may be used from static
    /// destructors, and the exit hook that removes this process's arrays must find it).
    static segment_table& get();

    /// The segment `id` if it is mapped here (writable, when `mode` asks for it), else null.
    mapped_segment* find_mapped(const segment_id& id, access mode = access::read_write);
    /// Adds a freshly mapped segment, or returns the one already mapped with the same id.
    mapped_segment& add(table_entry fresh, std::size_t data_offset, view_factory make_view);
    /// Unmaps segment `id` here (each of its mappings), if mapped.
    void unmap(const segment_id& id);
    /// Unmaps every segment whose name was removed or leads to another segment; how many.
    std::size_t release_removed();
    void unmap_all() noexcept;

private:
    table_entry* lookup(const segment_id& id, access mode, bool mapped_only);
    static void unmap(table_entry& e);
    void remove_owned_at_exit() noexcept;

    std::mutex mu_;
    std::deque<table_entry> entries_;  // a deque keeps addresses stable
};

}  // namespace shmpool::detail
