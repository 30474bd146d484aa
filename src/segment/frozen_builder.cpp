// shmpool::frozen_builder: columns gathered in memory, indexes sorted by hash, and the whole
// store written into a new segment before its name appears (frozen_format.hpp: the layout).
#include "shmpool/frozen_builder.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "frozen_column.hpp"
#include "frozen_format.hpp"
#include "segment_format.hpp"

namespace shmpool {

namespace {

using detail::frozen_column_data;

constexpr std::size_t round_up_page(std::size_t n) {
    return (n + detail::page_size - 1) / detail::page_size * detail::page_size;
}

// A column's bytes to write: one part per section.
struct part {
    const void* data;
    std::size_t bytes;
};

// The key of row r of the keys column `k`, as bytes.
std::pair<const std::byte*, std::size_t> key_of(const frozen_column_data& k, std::size_t r) {
    if (k.kind == 1) return {k.all_values.data() + 8 * r, 8};
    const std::uint64_t b = k.dedup ? k.starts[r] : k.all_offsets[r];
    const std::uint64_t e = k.dedup ? k.ends[r] : k.all_offsets[r + 1];
    return {k.all_values.data() + b, e - b};
}

std::string key_text(const frozen_column_data& k, std::size_t r) {
    const auto [p, n] = key_of(k, r);
    if (k.kind == 1) {
        std::int64_t v = 0;
        std::memcpy(&v, p, 8);
        return std::to_string(v);
    }
    return "'" + std::string(reinterpret_cast<const char*>(p), std::min<std::size_t>(n, 80)) + "'";
}

// An index's sections, built from its keys column.
struct index_data {
    std::vector<std::uint64_t> hashes, directory;
    std::vector<std::uint32_t> rows32;
    std::vector<std::uint64_t> rows64;
    std::uint32_t bits = 0;
};

index_data build_index(const frozen_column_data& index, const frozen_column_data& keys,
                       std::size_t rows) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> entries(rows);
    for (std::size_t r = 0; r < rows; ++r) {
        const auto [p, n] = key_of(keys, r);
        entries[r] = {detail::frozen_hash(p, n), r};
    }
    std::sort(entries.begin(), entries.end());
    for (std::size_t k = 1; k < rows; ++k) {
        for (std::size_t j = k; j-- > 0 && entries[j].first == entries[k].first;) {
            const auto a = key_of(keys, entries[j].second), b = key_of(keys, entries[k].second);
            if (a.second == b.second && (a.second == 0 || std::memcmp(a.first, b.first, a.second) == 0))
                throw invalid_argument_error(
                    "frozen_builder: index '" + index.name + "': the key " +
                    key_text(keys, entries[k].second) + " appears in rows " +
                    std::to_string(entries[j].second) + " and " +
                    std::to_string(entries[k].second) + " of column '" + keys.name + "'");
        }
    }
    index_data d;
    while (d.bits < 40 && (std::size_t{4} << d.bits) < rows) ++d.bits;  // about 2 to 4 a bucket
    d.hashes.reserve(rows);
    const bool narrow = rows <= 0xffffffffu;
    for (const auto& [h, r] : entries) {
        d.hashes.push_back(h);
        if (narrow)
            d.rows32.push_back(static_cast<std::uint32_t>(r));
        else
            d.rows64.push_back(r);
    }
    const std::size_t buckets = std::size_t{1} << d.bits;
    d.directory.assign(buckets + 1, rows);
    std::size_t at = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
        while (at < rows && (d.bits ? d.hashes[at] >> (64 - d.bits) : 0) < b) ++at;
        d.directory[b] = at;
    }
    return d;
}

// The store's bytes, laid out: what init() writes.
struct layout {
    detail::frozen_header header{};
    std::vector<detail::frozen_column> toc;
    std::vector<std::vector<part>> parts;  // per column, per section
};

void write_store(std::byte* data, const void* arg) {
    const layout& l = *static_cast<const layout*>(arg);
    std::memcpy(data, &l.header, sizeof l.header);
    std::memcpy(data + l.header.toc_offset, l.toc.data(), l.toc.size() * sizeof(detail::frozen_column));
    for (std::size_t c = 0; c < l.toc.size(); ++c)
        for (std::size_t s = 0; s < l.parts[c].size(); ++s)
            if (l.parts[c][s].bytes && l.parts[c][s].data)
                std::memcpy(data + l.toc[c].section[s].offset, l.parts[c][s].data, l.parts[c][s].bytes);
}

}  // namespace

struct frozen_builder::impl {
    frozen_build_options options;
    std::vector<std::unique_ptr<frozen_column_data>> columns;
    std::vector<index_data> indexes;  // built at publish, kept alive while writing
    const detail::frozen_state* matched = nullptr;  // a store push_row() found alike

    frozen_column_data* find(std::string_view name) {
        for (auto& c : columns)
            if (c->name == name) return c.get();
        return nullptr;
    }
};

frozen_builder::frozen_builder() : impl_(std::make_unique<impl>()) {}

frozen_builder::frozen_builder(const frozen_build_options& opts) : frozen_builder() {
    impl_->options = opts;
}
frozen_builder::~frozen_builder() = default;

frozen_builder::frozen_builder(const frozen& like, const frozen_build_options& opts)
    : frozen_builder(opts) {
    const detail::frozen_state& s = like.state();
    for (const detail::frozen_column_state& c : s.columns) {
        if (c.kind == 4)
            index(c.name, s.columns[c.keys_column].name);
        else
            add(c.name, c.kind, c.type, c.dims, (c.flags & detail::frozen_flag_dedup) != 0);
    }
}

detail::frozen_column_data& frozen_builder::column_at(std::size_t position) {
    return *impl_->columns.at(position);
}

void frozen_builder::push_row(const frozen& from, std::size_t row) {
    const detail::frozen_state& s = from.state();
    auto& columns = impl_->columns;
    for (std::size_t k = 0; impl_->matched != &s && k < std::max(columns.size(), s.columns.size());
         ++k) {
        const bool same = k < columns.size() && k < s.columns.size() &&
                          columns[k]->name == s.columns[k].name &&
                          columns[k]->kind == s.columns[k].kind &&
                          columns[k]->type == s.columns[k].type &&
                          columns[k]->dims == s.columns[k].dims;
        if (!same)
            throw invalid_argument_error(
                "frozen_builder::push_row: " + s.who + " has not this builder's columns (column " +
                std::to_string(k) + ": '" + (k < s.columns.size() ? s.columns[k].name : "") +
                "' there, '" + (k < columns.size() ? columns[k]->name : "") + "' here)");
    }
    impl_->matched = &s;  // the columns are compared once per store, not per row
    for (std::size_t k = 0; k < columns.size(); ++k) {
        if (columns[k]->kind == 4) continue;
        const auto [values, count] = detail::frozen_row_values(s, s.columns[k], row);
        detail::frozen_append(*columns[k], values, count);
    }
}

detail::frozen_column_data& frozen_builder::add(std::string_view name, std::uint32_t kind,
                                                dtype type, const std::vector<std::size_t>& dims,
                                                bool dedup) {
    if (name.empty() || name.size() > detail::frozen_name_max ||
        name.find('\0') != std::string_view::npos)
        throw invalid_argument_error("frozen_builder: column name '" + std::string(name) +
                                     "' must have 1 to 127 bytes, no NUL");
    if (impl_->find(name))
        throw invalid_argument_error("frozen_builder: there is a column '" + std::string(name) +
                                     "' already");
    if (dims.size() > detail::frozen_max_rank)
        throw invalid_argument_error("frozen_builder: column '" + std::string(name) +
                                     "': a row may have at most 4 dimensions");
    impl_->matched = nullptr;  // push_row() compares the columns again
    auto c = std::make_unique<frozen_column_data>();
    c->name = name;
    c->kind = kind;
    c->type = type;
    c->dims = dims;
    c->dedup = dedup;
    c->element = dtype_size(type);
    for (std::size_t d : dims) c->row_elements *= d;
    const std::string& dir = impl_->options.spill_directory;
    if (!dir.empty() && !dedup && kind != 4) {
        const std::string what = "column '" + c->name + "'";
        c->spilled_values = std::make_unique<detail::spill_file>(dir, what);
        if (kind != 1) {
            c->spilled_offsets = std::make_unique<detail::spill_file>(dir, what + "'s offsets");
            const std::uint64_t zero = 0;
            c->spilled_offsets->append(&zero, sizeof zero);
        }
    }
    impl_->columns.push_back(std::move(c));
    return *impl_->columns.back();
}

frozen_builder::string_column frozen_builder::strings(std::string_view name, bool deduplicate) {
    return string_column(add(name, 3, dtype::uint8, {}, deduplicate));
}

void frozen_builder::index(std::string_view name, std::string_view keys_column) {
    const frozen_column_data* keys = impl_->find(keys_column);
    const bool usable = keys && (keys->kind == 3 || (keys->kind == 1 && keys->type == dtype::int64 &&
                                                     keys->dims.empty()));
    if (!usable)
        throw invalid_argument_error("frozen_builder: index '" + std::string(name) +
                                     "': its keys column '" + std::string(keys_column) +
                                     "' must be a strings column or an array of int64 scalars "
                                     "added before it");
    add(name, 4, dtype::uint8, {}, false).keys = keys_column;
}

std::size_t frozen_builder::rows() const noexcept {
    for (const auto& c : impl_->columns)
        if (c->kind != 4) return c->rows;
    return 0;
}

namespace {

// The table-of-contents entry of `c` (its sections' offsets come later) and its parts.
std::vector<part> describe(frozen_column_data& c, const index_data* ix,
                           std::size_t keys_position, bool int_keys, detail::frozen_column& e) {
    std::memcpy(e.name, c.name.data(), c.name.size());
    e.kind = c.kind;
    const std::string_view descr = npy_descr(c.type);
    std::memcpy(e.descr, descr.data(), std::min<std::size_t>(descr.size(), 7));
    e.rank = static_cast<std::uint32_t>(c.dims.size());
    for (std::size_t d = 0; d < c.dims.size(); ++d) e.dims[d] = c.dims[d];
    const auto bytes_of = [](const auto& v) { return v.size() * sizeof(v[0]); };
    if (c.kind == 1) return {{c.all_values.data(), c.all_values.size()}};
    if (c.kind != 4) {
        const part values{c.all_values.data(), c.all_values.size()};
        if (c.dedup) e.flags |= detail::frozen_flag_dedup;
        // u32 offsets: half the bytes (not for a spilled column: they would take memory)
        if (!c.spilled_values && c.all_values.size() / c.element <= 0xffffffffu) {
            e.flags |= detail::frozen_flag_offsets32;
            const auto narrowed = [](const std::vector<std::uint64_t>& v) {
                return std::vector<std::uint32_t>(v.begin(), v.end());
            };
            c.narrow[0] = narrowed(c.dedup ? c.starts : c.offsets);
            if (c.dedup) c.narrow[1] = narrowed(c.ends);
            if (!c.dedup) return {{c.narrow[0].data(), bytes_of(c.narrow[0])}, values};
            return {{c.narrow[0].data(), bytes_of(c.narrow[0])},
                    {c.narrow[1].data(), bytes_of(c.narrow[1])}, values};
        }
        if (!c.dedup) return {{c.all_offsets.data(), bytes_of(c.all_offsets)}, values};
        return {{c.starts.data(), bytes_of(c.starts)}, {c.ends.data(), bytes_of(c.ends)}, values};
    }
    e.keys_column = static_cast<std::uint32_t>(keys_position);
    e.bucket_bits = ix->bits;
    if (int_keys) e.flags |= detail::frozen_flag_int_keys;
    const bool narrow = !ix->rows32.empty() || ix->rows64.empty();
    if (narrow) e.flags |= detail::frozen_flag_rows32;
    return {{ix->hashes.data(), bytes_of(ix->hashes)},
            narrow ? part{ix->rows32.data(), bytes_of(ix->rows32)}
                   : part{ix->rows64.data(), bytes_of(ix->rows64)},
            {ix->directory.data(), bytes_of(ix->directory)}};
}

}  // namespace

frozen frozen_builder::publish(std::string_view name, const create_options& opts) {
    return publish_at(detail::location::shm(name), opts);
}

frozen frozen_builder::publish(const file_path& file, const create_options& opts) {
    return publish_at(detail::location::file(file.path), opts);
}

frozen frozen_builder::publish_replacing(const frozen& old, const create_options& opts) {
    const detail::location& where = old.handle_.where();
    const std::optional<detail::segment_creator> creator = detail::creator_of(where);
    create_options o = opts;
    o.replace_existing = true;
    return publish_at(where, o, creator ? &*creator : nullptr);
}

frozen frozen_builder::publish_at(const detail::location& where, const create_options& opts,
                                  const detail::segment_creator* creator) {
    auto& columns = impl_->columns;
    const std::size_t rows = this->rows();
    for (const auto& c : columns)
        if (c->kind != 4 && c->rows != rows)
            throw invalid_argument_error("frozen_builder: column '" + c->name + "' has " +
                                         std::to_string(c->rows) + " rows, column '" +
                                         columns.front()->name + "' " + std::to_string(rows) +
                                         ": every column needs one entry per row");
    for (auto& c : columns) c->settle();
    layout l;
    l.toc.resize(columns.size());
    impl_->indexes.clear();
    impl_->indexes.reserve(columns.size());
    for (std::size_t k = 0; k < columns.size(); ++k) {
        frozen_column_data& c = *columns[k];
        std::size_t keys_position = 0;
        const index_data* ix = nullptr;
        if (c.kind == 4) {
            while (columns[keys_position]->name != c.keys) ++keys_position;
            impl_->indexes.push_back(build_index(c, *columns[keys_position], rows));
            ix = &impl_->indexes.back();
        }
        l.parts.push_back(
            describe(c, ix, keys_position, ix && columns[keys_position]->kind == 1, l.toc[k]));
    }
    std::memcpy(l.header.magic, detail::frozen_magic, sizeof l.header.magic);
    l.header.version = detail::frozen_version;
    l.header.columns = static_cast<std::uint32_t>(columns.size());
    l.header.rows = rows;
    l.header.toc_offset = sizeof(detail::frozen_header);
    // The segment's data starts on a page: sections at page multiples of it are page-aligned.
    std::size_t at = round_up_page(sizeof(detail::frozen_header) + columns.size() * sizeof(detail::frozen_column));
    for (std::size_t k = 0; k < columns.size(); ++k) {
        l.toc[k].sections = static_cast<std::uint32_t>(l.parts[k].size());
        for (std::size_t s = 0; s < l.parts[k].size(); ++s) {
            l.toc[k].section[s] = {at, l.parts[k][s].bytes};
            at = round_up_page(at + l.parts[k][s].bytes);
        }
    }
    l.header.body_bytes = at;
    const detail::segment_initializer init{&write_store, &l};
    detail::mapped_segment& s = detail::create_segment(where, dtype::uint8, {at}, opts,
                                                       &detail::make_frozen_state, init,
                                                       detail::frozen_identity(), creator);
    impl_->indexes.clear();
    return frozen(s);
}

}  // namespace shmpool
