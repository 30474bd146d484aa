// frozen_builder's columns: appending a row (frozen_column.hpp).
#include <cstring>

#include "frozen_column.hpp"
#include "shmpool/error.hpp"
#include "shmpool/frozen_builder.hpp"

namespace shmpool::detail {

void frozen_append(frozen_column_data& c, const void* data, std::size_t count) {
    const std::size_t bytes = count * c.element;
    if (c.kind == 1 && count != c.row_elements)
        throw invalid_argument_error("frozen_builder: column '" + c.name + "': a row of " +
                                     std::to_string(count) + " values; its rows have " +
                                     std::to_string(c.row_elements));
    const auto* p = static_cast<const std::byte*>(data);
    if (c.spilled_values) {
        c.spilled_values->append(p, bytes);
        if (c.kind != 1) {
            const std::uint64_t end = c.spilled_values->size() / c.element;
            c.spilled_offsets->append(&end, sizeof end);
        }
        ++c.rows;
        return;
    }
    if (c.dedup) {
        std::vector<std::pair<std::uint64_t, std::uint64_t>>& same = c.seen[frozen_hash(p, bytes)];
        for (const auto& [start, n] : same) {
            if (n == count &&
                (bytes == 0 || std::memcmp(c.values.data() + start * c.element, p, bytes) == 0)) {
                c.starts.push_back(start);  // a row with the same content: share it
                c.ends.push_back(start + n);
                ++c.rows;
                return;
            }
        }
        const std::uint64_t start = c.values.size() / c.element;
        c.values.insert(c.values.end(), p, p + bytes);
        same.emplace_back(start, count);
        c.starts.push_back(start);
        c.ends.push_back(start + count);
    } else {
        c.values.insert(c.values.end(), p, p + bytes);
        if (c.kind != 1) c.offsets.push_back(c.values.size() / c.element);
    }
    ++c.rows;
}

}  // namespace shmpool::detail
