// shmpool::layered_store: lookups through the overlay then the base, and put(). The
// compaction is in layered_compact.cpp; the overlay's layout in layered_overlay.hpp.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include <boost/interprocess/exceptions.hpp>

#include "frozen_format.hpp"
#include "layered_overlay.hpp"

namespace shmpool {

static_assert(std::is_trivially_copyable_v<layered_store>);

namespace detail {

std::vector<const frozen_column_state*> value_columns(const frozen_state& s) {
    std::vector<const frozen_column_state*> out;
    for (const frozen_column_state& c : s.columns)
        if (c.kind != 4) out.push_back(&c);
    return out;
}

std::pair<std::size_t, const frozen_column_state*> layered_column(const frozen_state& s,
                                                                  std::string_view column,
                                                                  std::string_view name) {
    std::size_t k = 0;
    std::string list;
    for (const frozen_column_state& c : s.columns) {
        if (c.kind == 4) continue;
        if (c.name == column) return {k, &c};
        list += (k++ ? ", " : "") + c.name;
    }
    throw not_found_error(layered_who(name) + " has no column '" +
                          std::string(column) + "' (its columns: " + list + ")");
}

void check_layered_type(const frozen_column_state& c, std::optional<dtype> type,
                        std::string_view name) {
    const bool text = c.kind == 3;
    if (text == !type.has_value() && (text || c.type == *type)) return;
    const std::string holds = text ? "text" : "values of " + std::string(dtype_name(c.type));
    const std::string given = type ? "values of " + std::string(dtype_name(*type)) : "text";
    throw type_mismatch_error(layered_who(name) + ", column '" + c.name +
                              "': it holds " + holds + ", given " + given);
}

namespace {

[[noreturn]] void refuse_overlay(shared_rwlock& l, bool held, std::string_view store) {
    if (held) l.unlock();  // without mark_consistent(): refused in every process from now on
    throw heap_broken_error(layered_who(store) +
                            ": a process died while it changed the overlay: the overlay is "
                            "refused (the base, intact, opens with frozen::open)");
}

// Takes `l` with `take`; a dead writer's hold refuses the overlay.
template <class Take>
void take_or_refuse(shared_rwlock& l, std::string_view store, Take take) {
    try {
        take();
    } catch (const owner_died_error&) {
        refuse_overlay(l, true, store);
    } catch (const not_recoverable_error&) {
        refuse_overlay(l, false, store);
    }
}

}  // namespace

overlay_reading::overlay_reading(shared_rwlock& l, std::string_view store) : lock_(l) {
    take_or_refuse(l, store, [&] { l.lock_shared(); });
}

overlay_writing::overlay_writing(const managed_heap& heap, shared_rwlock& l,
                                 std::string_view store)
    : writers_(heap.lock()), lock_(l) {
    take_or_refuse(l, store, [&] { l.lock(); });
}

}  // namespace detail

namespace {

using detail::frozen_column_state;
using detail::frozen_state;

std::string overlay_name(std::string_view name) { return std::string(name) + ".overlay"; }

using detail::layered_who;

}  // namespace

// --- row_update and layered_row ---------------------------------------------------------------

row_update& row_update::set(std::string_view column, std::string_view text) {
    return set_values(column, std::nullopt, text.data(), text.size());
}

row_update& row_update::set_values(std::string_view column, std::optional<dtype> type,
                                   const void* data, std::size_t count) {
    const auto* p = static_cast<const std::byte*>(data);
    field f{std::string(column), type, {p, p + count * (type ? dtype_size(*type) : 1)}};
    const auto same = [&](const field& g) { return g.column == column; };
    if (auto it = std::find_if(fields_.begin(), fields_.end(), same); it != fields_.end())
        *it = std::move(f);
    else
        fields_.push_back(std::move(f));
    return *this;
}

std::pair<const std::byte*, std::size_t> layered_row::raw(std::string_view column,
                                                          std::optional<dtype> type) const {
    const frozen_state& s = base_.state();
    const auto [k, c] = detail::layered_column(s, column, base_.name());
    detail::check_layered_type(*c, type, base_.name());
    if (mask_ >> k & 1) {
        const std::uint64_t begin = k ? offsets_[k - 1] : 0, end = offsets_[k];
        return {blob_.data() + begin, (end - begin) / dtype_size(c->type)};
    }
    return detail::frozen_row_values(s, *c, id_);
}

std::string layered_row::text(std::string_view column) const {
    const auto [data, count] = raw(column, std::nullopt);
    return {reinterpret_cast<const char*>(data), count};
}

void layered_row::throw_empty(std::string_view column) const {
    throw invalid_argument_error(layered_who(base_.name()) + ", column '" + std::string(column) +
                                 "': row " + std::to_string(id_) + " has no value");
}

// --- opening ------------------------------------------------------------------------------------

layered_store layered_store::create(std::string_view name, std::string_view key_index,
                                    std::size_t overlay_bytes, const create_options& opts) {
    const frozen base = frozen::open(name);
    const frozen_state& s = base.state();
    s.column(key_index, 4, std::nullopt);  // throws not_found_error, type_mismatch_error
    if (detail::value_columns(s).size() > 64)
        throw invalid_argument_error(layered_who(name) + ": a base of more than 64 columns (besides its "
                                     "indexes) cannot have an overlay");
    const std::string heap_name = overlay_name(name);
    managed_heap heap = managed_heap::create(heap_name, overlay_bytes, opts);
    try {
        root& r = heap.find_or_construct<root>(detail::layered_root_name,
                                               heap.get_allocator<char>());
        std::memcpy(r.index, key_index.data(), key_index.size());
        r.base_rows = r.next_row = s.rows;
    } catch (...) {
        managed_heap::remove(heap_name);
        throw;
    }
    return open(name);
}

layered_store layered_store::open(std::string_view name) {
    layered_store st;
    st.heap_ = managed_heap::open(overlay_name(name));
    root* r = st.heap_.find<root>(detail::layered_root_name);
    if (!r)
        throw format_error(layered_who(name) + ": managed heap '" + overlay_name(name) +
                           "' is not its overlay (no root: being created, or another heap)");
    st.root_offset_ = reinterpret_cast<std::byte*>(r) -
                      reinterpret_cast<std::byte*>(&st.heap_.manager());
    const detail::overlay_reading held(r->readers(), name);
    st.base_ = frozen::open(name);
    st.generation_ = r->generation.load(std::memory_order_acquire);
    return st;
}

void layered_store::remove(std::string_view name) {
    bool removed = false;
    try {
        managed_heap::remove(overlay_name(name));
        removed = true;
    } catch (const not_found_error&) {
    }
    try {
        frozen::remove(name);
    } catch (const not_found_error&) {
        if (!removed) throw not_found_error(layered_who(name) + " does not exist (no base, no overlay)");
    }
}

layered_store::root& layered_store::overlay_root() const {
    return *reinterpret_cast<root*>(reinterpret_cast<std::byte*>(&heap_.manager()) +
                                    root_offset_);
}

void layered_store::refresh_locked() const {
    const std::uint64_t now = overlay_root().generation.load(std::memory_order_acquire);
    if (now == generation_) return;
    base_ = frozen::open(base_.name());
    generation_ = now;
}

void layered_store::refresh() const {
    root& r = overlay_root();
    if (r.generation.load(std::memory_order_acquire) == generation_) return;
    const detail::overlay_reading held(r.readers(), name());
    refresh_locked();
}

frozen layered_store::base() const {
    refresh();
    return base_;
}

std::uint64_t layered_store::generation() const {
    return overlay_root().generation.load(std::memory_order_acquire);
}

std::size_t layered_store::overlay_rows() const {
    return overlay_root().held.load(std::memory_order_acquire);
}

std::size_t layered_store::rows() const {
    root& r = overlay_root();
    const detail::overlay_reading held(r.readers(), name());
    return r.next_row;
}

// --- lookups ------------------------------------------------------------------------------------

namespace {

const frozen_column_state& key_index(const frozen_state& s, const char* index) {
    return s.column(index, 4, std::nullopt);
}

}  // namespace

std::optional<layered_row> layered_store::lookup(const void* key, std::size_t size,
                                                 bool int_key) const {
    root& r = overlay_root();
    refresh();
    // The overlay is empty and no compaction came since refresh(): the base answers alone.
    // (A compaction bumps the generation before it empties the overlay.)
    if (r.held.load(std::memory_order_acquire) == 0 &&
        r.generation.load(std::memory_order_acquire) == generation_) {
        const frozen_state& s = base_.state();
        const auto id = detail::frozen_find(s, key_index(s, r.index), key, size, int_key);
        if (!id) return std::nullopt;
        layered_row row;
        row.base_ = base_;
        row.id_ = *id;
        return row;
    }
    const detail::overlay_reading held(r.readers(), name());
    refresh_locked();
    const frozen_state& s = base_.state();
    std::optional<std::size_t> id = detail::frozen_find(s, key_index(s, r.index), key, size, int_key);
    if (!id) {
        const auto it = r.new_keys.find(std::string_view(static_cast<const char*>(key), size));
        if (it == r.new_keys.end()) return std::nullopt;
        id = it->second;
    }
    return locked_row(*id);
}

std::optional<layered_row> layered_store::find(std::string_view key) const {
    return lookup(key.data(), key.size(), false);
}

std::optional<layered_row> layered_store::find(std::int64_t key) const {
    return lookup(&key, sizeof key, true);
}

layered_row layered_store::row(std::size_t id) const {
    root& r = overlay_root();
    const detail::overlay_reading held(r.readers(), name());
    refresh_locked();
    if (id >= r.next_row)
        throw invalid_argument_error(layered_who(name()) + ": row " + std::to_string(id) +
                                     " is past its " + std::to_string(r.next_row) + " rows");
    return locked_row(id);
}

layered_row layered_store::locked_row(std::size_t id) const {
    layered_row row;
    row.base_ = base_;
    row.id_ = id;
    const root& r = overlay_root();
    if (const auto e = r.entries.find(id); e != r.entries.end()) {
        row.mask_ = e->second.mask;
        row.blob_.assign(e->second.blob.begin(), e->second.blob.end());
        row.offsets_.assign(e->second.offsets.begin(), e->second.offsets.end());
    }
    return row;
}

}  // namespace shmpool
