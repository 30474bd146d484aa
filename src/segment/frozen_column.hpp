// A column of a frozen_builder while it is built: its rows' values and offsets in memory, or
// spilled to files (frozen_spill.hpp), and what publish() lays out from them. Not a public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "frozen_format.hpp"
#include "frozen_spill.hpp"
#include "shmpool/dtype.hpp"

namespace shmpool::detail {

struct frozen_column_data {
    std::string name;
    std::uint32_t kind = 0;
    dtype type = dtype::uint8;
    std::vector<std::size_t> dims;
    bool dedup = false;
    std::size_t element = 1, row_elements = 1, rows = 0;
    std::vector<std::byte> values;
    std::vector<std::uint64_t> offsets{0};    // ragged, strings: rows + 1 (in elements)
    std::vector<std::uint64_t> starts, ends;  // de-duplicated: per row
    // De-duplicated: content hash -> (start, count) of the rows stored with it.
    std::unordered_map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>> seen;
    std::string keys;  // index: its keys column
    std::vector<std::uint32_t> narrow[2];  // at publish: offsets (or starts, ends) as u32
    // A spilled column (a builder with a spill directory): values and offsets in files.
    std::unique_ptr<spill_file> spilled_values, spilled_offsets;
    // At publish, the values and offsets wherever they are (settle()).
    std::span<const std::byte> all_values;
    std::span<const std::uint64_t> all_offsets;

    void settle() {
        if (!spilled_values) {
            all_values = values;
            all_offsets = offsets;
            return;
        }
        all_values = spilled_values->map();
        if (!spilled_offsets) return;
        const std::span<const std::byte> o = spilled_offsets->map();
        all_offsets = {reinterpret_cast<const std::uint64_t*>(o.data()), o.size() / 8};
    }
    // Laid out at publish():
    frozen_column entry{};
};

}  // namespace shmpool::detail
