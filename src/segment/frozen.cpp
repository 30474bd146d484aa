// shmpool::frozen: opening a frozen store, its table of contents as mapped in this process,
// lookups in its indexes, and the advice that keeps columns in memory.
#include "shmpool/frozen.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "frozen_format.hpp"
#include "os.hpp"
#include "segment_format.hpp"

namespace shmpool {
namespace detail {
segment_identity frozen_identity() noexcept {
    segment_identity id;
    id.kind = segment_kind::frozen;
    std::memcpy(id.type_name, "shmpool::frozen", sizeof "shmpool::frozen");
    return id;
}

namespace {

std::string kind_text(std::uint32_t kind) { return std::string(frozen_kind_name(kind)); }

}  // namespace

std::shared_ptr<void> make_frozen_state(const mapped_segment& s) {
    auto state = std::make_shared<frozen_state>();
    state->who = "frozen store '" + std::string(s.where.text()) + "'";
    const frozen_toc toc = read_frozen_toc(s.data, s.count, state->who);
    state->rows = toc.header.rows;
    for (const frozen_column& c : toc.columns) {
        frozen_column_state col;
        col.name = c.name;
        col.kind = c.kind;
        col.flags = c.flags;
        col.type = *dtype_from_descr(std::string(c.descr, strnlen(c.descr, sizeof c.descr)));
        col.dims.assign(c.dims, c.dims + (c.kind == 1 ? c.rank : 0));
        col.keys_column = c.keys_column;
        col.bucket_bits = c.bucket_bits;
        for (std::uint32_t k = 0; k < c.sections; ++k) {
            col.section[k] = s.data + c.section[k].offset;
            col.bytes[k] = c.section[k].bytes;
        }
        state->columns.push_back(std::move(col));
    }
    return state;
}

const frozen_column_state& frozen_state::column(std::string_view name, std::uint32_t kind,
                                                std::optional<dtype> type) const {
    for (const frozen_column_state& c : columns) {
        if (c.name != name) continue;
        if (c.kind != kind || (type && c.type != *type))
            throw type_mismatch_error(
                who + ": column '" + c.name + "' is " + kind_text(c.kind) +
                (c.kind <= 2 ? " of " + std::string(dtype_name(c.type)) : "") + ", not " +
                kind_text(kind) + (type ? " of " + std::string(dtype_name(*type)) : ""));
        return c;
    }
    std::string list;
    for (const frozen_column_state& c : columns)
        list += (list.empty() ? "" : ", ") + c.name + " (" + kind_text(c.kind) + ")";
    throw not_found_error(who + " has no column '" + std::string(name) + "'; it has " +
                          (list.empty() ? "none" : list));
}

std::optional<std::size_t> frozen_find(const frozen_state& s, const frozen_column_state& index,
                                       const void* key, std::size_t size, bool int_key) noexcept {
    const bool int_keys = (index.flags & frozen_flag_int_keys) != 0;
    if (int_keys != int_key) return std::nullopt;  // a string among int64 keys, or the reverse
    const std::uint64_t h = frozen_hash(key, size);
    const auto* hashes = reinterpret_cast<const std::uint64_t*>(index.section[0]);
    const auto* directory = reinterpret_cast<const std::uint64_t*>(index.section[2]);
    const std::uint64_t bucket = index.bucket_bits ? h >> (64 - index.bucket_bits) : 0;
    std::uint64_t lo = directory[bucket], hi = directory[bucket + 1];
    if (hi > s.rows || lo > hi) return std::nullopt;  // a corrupt directory finds nothing
    const std::uint64_t* at = std::lower_bound(hashes + lo, hashes + hi, h);
    const frozen_column_state& keys = s.columns[index.keys_column];
    for (; at < hashes + hi && *at == h; ++at) {
        const std::size_t k = static_cast<std::size_t>(at - hashes);
        const std::size_t row = (index.flags & frozen_flag_rows32)
                                    ? reinterpret_cast<const std::uint32_t*>(index.section[1])[k]
                                    : reinterpret_cast<const std::uint64_t*>(index.section[1])[k];
        if (row >= s.rows) return std::nullopt;
        if (int_keys) {
            if (std::memcmp(keys.section[0] + 8 * row, key, 8) == 0) return row;
            continue;
        }
        const bool dedup = (keys.flags & frozen_flag_dedup) != 0;
        const auto [b, e] = frozen_row_span(keys, row);
        const std::byte* bytes = keys.section[dedup ? 2 : 1];
        if (b > e || e > keys.bytes[dedup ? 2 : 1]) return std::nullopt;
        if (e - b == size && (size == 0 || std::memcmp(bytes + b, key, size) == 0)) return row;
    }
    return std::nullopt;
}

void throw_bad_frozen_offsets(const frozen_state& s, const frozen_column_state& c,
                              std::size_t row) {
    throw format_error(s.who + ", column '" + c.name + "': the offsets of row " +
                       std::to_string(row) + " lie outside its values (a corrupt store)");
}

std::pair<const std::byte*, std::size_t> frozen_row_values(const frozen_state& s,
                                                           const frozen_column_state& c,
                                                           std::size_t row) {
    if (row >= s.rows)
        throw invalid_argument_error(s.who + ", column '" + c.name + "': row " +
                                     std::to_string(row) + " is past its " +
                                     std::to_string(s.rows) + " rows");
    const std::size_t element = dtype_size(c.type);
    if (c.kind == 1) {
        std::size_t n = 1;
        for (std::size_t d : c.dims) n *= d;
        return {c.section[0] + row * n * element, n};
    }
    const int values = (c.flags & frozen_flag_dedup) ? 2 : 1;
    const auto [b, e] = frozen_row_span(c, row);
    if (b > e || e > c.bytes[values] / element) throw_bad_frozen_offsets(s, c, row);
    return {c.section[values] + b * element, e - b};
}

}  // namespace detail

frozen frozen::open(std::string_view name) {
    return frozen(detail::open_segment(detail::location::shm(name), dtype::uint8,
                                       &detail::make_frozen_state, detail::frozen_identity(),
                                       detail::access::read_only));
}

frozen frozen::open(const file_path& file) {
    return frozen(detail::open_segment(detail::location::file(file.path), dtype::uint8,
                                       &detail::make_frozen_state, detail::frozen_identity(),
                                       detail::access::read_only));
}

void frozen::remove(std::string_view name) {
    const detail::segment_identity id = detail::frozen_identity();
    detail::remove_segment(detail::location::shm(name), &id);
}

void frozen::remove(const file_path& file) {
    const detail::segment_identity id = detail::frozen_identity();
    detail::remove_segment(detail::location::file(file.path), &id);
}

const detail::frozen_state& frozen::state() const {
    const detail::mapped_segment& s =
        handle_.get(dtype::uint8, &detail::make_frozen_state, detail::access::read_only);
    return *static_cast<const detail::frozen_state*>(s.view.get());
}

std::size_t frozen::bytes() const {
    return handle_.get(dtype::uint8, &detail::make_frozen_state, detail::access::read_only).count;
}

std::vector<frozen_column_info> frozen::columns() const {
    const detail::frozen_state& s = state();
    std::vector<frozen_column_info> out;
    for (const detail::frozen_column_state& c : s.columns) {
        frozen_column_info i;
        i.name = c.name;
        i.kind = detail::kind_text(c.kind);
        i.dtype = std::string(dtype_name(c.type));
        i.shape = {s.rows};
        i.shape.insert(i.shape.end(), c.dims.begin(), c.dims.end());
        i.deduplicated = (c.flags & detail::frozen_flag_dedup) != 0;
        if (c.kind == 4) i.keys = s.columns[c.keys_column].name;
        for (std::size_t b : c.bytes) i.bytes += b;
        out.push_back(std::move(i));
    }
    return out;
}

void frozen::keep_in_memory(std::initializer_list<std::string_view> names, bool lock) const {
    const detail::frozen_state& s = state();
    for (std::string_view name : names) {
        const auto it = std::find_if(s.columns.begin(), s.columns.end(),
                                     [&](const auto& c) { return c.name == name; });
        if (it == s.columns.end()) s.column(name, 0, std::nullopt);  // throws, listing them
        for (int k = 0; k < 4; ++k) {
            if (!it->section[k] || it->bytes[k] == 0) continue;
            auto* p = const_cast<std::byte*>(it->section[k]);
            ::madvise(p, it->bytes[k], MADV_WILLNEED);
            volatile std::byte sink{};
            for (std::size_t off = 0; off < it->bytes[k]; off += detail::page_size) sink = p[off];
            (void)sink;
            if (lock && ::mlock(p, it->bytes[k]) != 0)
                detail::throw_errno(errno, s.who + ": cannot keep column '" + it->name +
                                               "' in memory (mlock; raise RLIMIT_MEMLOCK, "
                                               "`ulimit -l`)");
        }
    }
}

}  // namespace shmpool
