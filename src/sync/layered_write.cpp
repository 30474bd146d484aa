// shmpool::layered_store's writers: put() into the overlay, and compact(), which folds the
// overlay into a new frozen base published under the same name.
#include <cstring>

#include <boost/interprocess/exceptions.hpp>

#include "frozen_format.hpp"
#include "layered_overlay.hpp"
#include "shmpool/frozen_builder.hpp"

namespace shmpool {

namespace {

using detail::frozen_column_state;
using detail::frozen_state;

using detail::layered_who;

// A row's new values, column by column (value columns), before they go into the overlay.
struct row_values {
    std::vector<std::pair<const std::byte*, std::size_t>> bytes;  // per value column
    std::uint64_t mask = 0;
};

std::size_t value_position(const std::vector<const frozen_column_state*>& cols,
                           const frozen_column_state& c) {
    for (std::size_t k = 0; k < cols.size(); ++k)
        if (cols[k] == &c) return k;
    return cols.size();
}

// Checks `u` against the base's value columns and gathers its bytes.
row_values gather(const frozen_state& s, std::size_t columns, const row_update& u,
                  std::string_view name) {
    row_values v;
    v.bytes.resize(columns);
    for (const row_update::field& f : u.fields()) {
        const auto [k, column] = detail::layered_column(s, f.column, name);
        const frozen_column_state& c = *column;
        detail::check_layered_type(c, f.type, name);
        std::size_t row_elements = 1;
        for (std::size_t d : c.dims) row_elements *= d;
        const std::size_t count = f.bytes.size() / dtype_size(c.type);
        if (c.kind == 1 && count != row_elements)
            throw invalid_argument_error(layered_who(name) + ", column '" + c.name + "': given " +
                                         std::to_string(count) + " values; its rows have " +
                                         std::to_string(row_elements));
        v.bytes[k] = {f.bytes.data(), f.bytes.size()};
        v.mask |= std::uint64_t{1} << k;
    }
    return v;
}

// Throws invalid_argument_error naming the columns a new row lacks.
void check_complete(const std::vector<const frozen_column_state*>& cols, std::uint64_t mask,
                    std::string_view name) {
    std::string missing;
    for (std::size_t k = 0; k < cols.size(); ++k)
        if (!(mask >> k & 1)) missing += (missing.empty() ? "" : ", ") + cols[k]->name;
    if (!missing.empty())
        throw invalid_argument_error(layered_who(name) + ": a new key needs every column; not given: " +
                                     missing);
}

// The entry's bytes merged with `v` (v's columns replace the entry's), as blob and offsets.
void merge(detail::overlay_entry& e, const row_values& v, std::size_t columns,
           const detail::heap_alloc<char>& alloc) {
    detail::heap_bytes blob(alloc);
    detail::heap_u64s offsets(alloc);
    offsets.reserve(columns);
    for (std::size_t k = 0; k < columns; ++k) {
        if (v.mask >> k & 1) {
            const auto* p = v.bytes[k].first;
            blob.insert(blob.end(), p, p + v.bytes[k].second);
        } else if (e.mask >> k & 1) {
            const std::uint64_t begin = k ? e.offsets[k - 1] : 0;
            blob.insert(blob.end(), e.blob.begin() + begin, e.blob.begin() + e.offsets[k]);
        }
        offsets.push_back(blob.size());
    }
    e.blob.swap(blob);  // nothing thrown from here on
    e.offsets.swap(offsets);
    e.mask |= v.mask;
}

}  // namespace

void layered_store::put(std::string_view key, const row_update& u) const {
    put_key(key.data(), key.size(), false, u);
}

void layered_store::put(std::int64_t key, const row_update& u) const {
    put_key(&key, sizeof key, true, u);
}

void layered_store::put_key(const void* key, std::size_t size, bool int_key,
                            const row_update& u) const {
    root& r = overlay_root();
    const detail::overlay_writing held(heap_, r.readers(), name());
    refresh_locked();
    const frozen_state& s = base_.state();
    const frozen_column_state& index = s.column(r.index, 4, std::nullopt);
    if (int_key != ((index.flags & detail::frozen_flag_int_keys) != 0))
        throw invalid_argument_error(layered_who(name()) + ": index '" + index.name + "' has " +
                                     (int_key ? "text" : "int64") + " keys; put() was given " +
                                     (int_key ? "an int64" : "text"));
    const auto cols = detail::value_columns(s);
    row_values v = gather(s, cols.size(), u, name());
    const std::string_view key_bytes(static_cast<const char*>(key), size);
    std::optional<std::uint64_t> id = detail::frozen_find(s, index, key, size, int_key);
    if (!id)
        if (const auto it = r.new_keys.find(key_bytes); it != r.new_keys.end()) id = it->second;
    const std::size_t key_k = value_position(cols, s.columns[index.keys_column]);
    if (v.mask >> key_k & 1) {
        const auto [p, n] = v.bytes[key_k];
        if (n != size || std::memcmp(p, key, size) != 0)
            throw invalid_argument_error(layered_who(name()) + ": column '" + cols[key_k]->name +
                                         "' holds the key; put() gave it another value");
    }
    if (!id) {
        v.bytes[key_k] = {static_cast<const std::byte*>(key), size};
        v.mask |= std::uint64_t{1} << key_k;
        check_complete(cols, v.mask, name());
    }
    const detail::heap_alloc<char> alloc = heap_.get_allocator<char>();
    const std::uint64_t row = id ? *id : r.next_row;
    bool added_key = false, added_entry = false;
    try {
        if (!id) added_key = r.new_keys.emplace(detail::heap_key(key_bytes, alloc), row).second;
        auto [it, inserted] = r.entries.try_emplace(row, alloc);
        added_entry = inserted;
        merge(it->second, v, cols.size(), alloc);
        it->second.version = ++r.version;
    } catch (const boost::interprocess::bad_alloc&) {
        if (added_entry) r.entries.erase(row);
        if (added_key) r.new_keys.erase(r.new_keys.find(key_bytes));
        std::size_t needed = size;
        for (const auto& [p, n] : v.bytes) needed += n;
        throw no_space_error(layered_who(name()) + ": its overlay '" + std::string(heap_.name()) +
                                 "' is full (" + std::to_string(heap_.size()) +
                                 " bytes): compact() it, or create it bigger",
                             needed, heap_.free_bytes());
    }
    if (!id) ++r.next_row;
    r.held.store(r.entries.size(), std::memory_order_release);
}

// --- compaction ---------------------------------------------------------------------------------

namespace {

// An overlay row as the compaction read it.
struct snapshot_row {
    std::uint64_t id, version, mask;
    std::vector<std::byte> blob;
    std::vector<std::uint64_t> offsets;
};

// Appends row `row`, the overlay's values over the base's, to every column of `b`.
void append_merged(const std::vector<detail::frozen_column_data*>& columns,
                   const frozen_state& s, const snapshot_row& e) {
    std::size_t k = 0;
    for (std::size_t p = 0; p < s.columns.size(); ++p) {
        const frozen_column_state& c = s.columns[p];
        if (c.kind == 4) continue;
        if (e.mask >> k & 1) {
            const std::uint64_t begin = k ? e.offsets[k - 1] : 0;
            detail::frozen_append(*columns[p], e.blob.data() + begin,
                                  (e.offsets[k] - begin) / dtype_size(c.type));
        } else {
            const auto [values, count] = detail::frozen_row_values(s, c, e.id);
            detail::frozen_append(*columns[p], values, count);
        }
        ++k;
    }
}

}  // namespace

frozen layered_store::compact(const create_options& opts, const frozen_build_options& how) const {
    root& r = overlay_root();
    robust_lock one_at_a_time(r.compacting);
    if (one_at_a_time.owner_died()) one_at_a_time.mark_consistent();  // nothing half done
    // 1. What the overlay holds now, under its lock.
    std::vector<snapshot_row> snapshot;
    std::uint64_t rows = 0;
    frozen base;
    {
        const detail::overlay_reading held(r.readers(), name());
        refresh_locked();
        base = base_;
        rows = r.next_row;
        snapshot.reserve(r.entries.size());
        for (const auto& [id, e] : r.entries)
            snapshot.push_back({id, e.version, e.mask, {e.blob.begin(), e.blob.end()},
                                {e.offsets.begin(), e.offsets.end()}});
    }
    // 2. The new base, built without the lock, published in one step.
    frozen_builder b(base, how);
    const frozen_state& s = base.state();
    std::vector<detail::frozen_column_data*> columns;
    for (std::size_t p = 0; p < s.columns.size(); ++p) columns.push_back(&b.column_at(p));
    std::size_t next = 0;
    for (std::uint64_t row = 0; row < rows; ++row) {
        if (next < snapshot.size() && snapshot[next].id == row)
            append_merged(columns, s, snapshot[next++]);
        else
            b.push_row(base, row);
    }
    const frozen fresh = b.publish_replacing(base, opts);  // the base's creator stays its owner
    // 3. The overlay drops what the new base holds (unless put() changed it since step 1).
    const detail::overlay_writing held(heap_, r.readers(), name());
    for (const snapshot_row& e : snapshot)
        if (const auto it = r.entries.find(e.id);
            it != r.entries.end() && it->second.version == e.version)
            r.entries.erase(it);
    for (auto it = r.new_keys.begin(); it != r.new_keys.end();)
        it = it->second < rows ? r.new_keys.erase(it) : std::next(it);
    r.base_rows = rows;
    r.generation.fetch_add(1, std::memory_order_acq_rel);  // before `held`: see lookup()
    r.held.store(r.entries.size(), std::memory_order_release);
    base_ = fresh;
    generation_ = r.generation.load(std::memory_order_acquire);
    return fresh;
}

}  // namespace shmpool
