// This process's table of mapped segments (see segment_table.hpp).
#include "segment_table.hpp"

#include <cstdlib>

#include "shmpool/error.hpp"

namespace shmpool::detail {

std::string who_of(const location& where) { return where.describe() + " (" + where.path() + ")"; }

segment_id id_of(const struct stat& st) {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool path_leads_to(const std::string& path, const segment_id& id) {
    struct stat st {};
    try {
        return lstat_path(path, st) && id_of(st) == id;
    } catch (const error&) {
        return false;
    }
}

segment_table& segment_table::get() {
    static segment_table* table = [] {
        auto* t = new segment_table;
        on_fork([] { get().mu_.lock(); }, [] { get().mu_.unlock(); }, [] { get().mu_.unlock(); });
        std::atexit([] { get().remove_owned_at_exit(); });
        return t;
    }();
    return *table;
}

mapped_segment* segment_table::find_mapped(const segment_id& id, access mode) {
    std::lock_guard lock(mu_);
    table_entry* e = lookup(id, mode, true);
    return e ? &e->seg : nullptr;
}

mapped_segment& segment_table::add(table_entry fresh, std::size_t data_offset,
                                   view_factory make_view) {
    std::lock_guard lock(mu_);
    const access mode = fresh.seg.writable ? access::read_write : access::read_only;
    if (table_entry* e = lookup(fresh.seg.id, mode, true)) {
        if (fresh.owner) e->owner = fresh.owner, e->persistent = fresh.persistent;
        return e->seg;
    }
    // Reuse this segment's entry if it was unmapped (handles may point at it), else a new one.
    table_entry* e = lookup(fresh.seg.id, mode, false);
    if (!e || e->seg.data) e = &entries_.emplace_back();
    *e = std::move(fresh);
    e->seg.data = e->region.data() + data_offset;
    e->seg.view = make_view(e->seg);
    e->seg.make_view = make_view;
    return e->seg;
}

void segment_table::unmap(const segment_id& id) {
    std::lock_guard lock(mu_);
    for (table_entry& e : entries_)
        if (e.seg.id == id) unmap(e);
}

std::size_t segment_table::release_removed() {
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

void segment_table::unmap_all() noexcept {
    std::lock_guard lock(mu_);
    for (table_entry& e : entries_) unmap(e);
}

// An entry of segment `id`: a mapping that serves `mode` (a read-write one serves both), or,
// unless `mapped_only`, an unmapped entry of the same access to reuse.
table_entry* segment_table::lookup(const segment_id& id, access mode, bool mapped_only) {
    table_entry* unmapped = nullptr;
    for (table_entry& e : entries_) {
        if (!(e.seg.id == id)) continue;
        if (e.seg.data && (e.seg.writable || mode == access::read_only)) return &e;
        if (!e.seg.data && e.seg.writable == (mode == access::read_write)) unmapped = &e;
    }
    return mapped_only ? nullptr : unmapped;
}

void segment_table::unmap(table_entry& e) {
    e.seg.view.reset();
    e.seg.data = nullptr;
    e.region.reset();
}

void segment_table::remove_owned_at_exit() noexcept {
    std::lock_guard lock(mu_);
    const pid_t me = current_pid();
    for (table_entry& e : entries_) {
        if (e.owner != me || e.persistent || !e.seg.data) continue;
        const std::string path = e.seg.where.path();
        if (path_leads_to(path, e.seg.id)) unlink_path(path);
    }
}

std::size_t release_removed_segments() { return segment_table::get().release_removed(); }

void unmap_all_segments() noexcept { segment_table::get().unmap_all(); }

}  // namespace shmpool::detail
