// libFuzzer target for a frozen store's table of contents (read_frozen_toc, src/format/).
//
// Each input is taken as a store's data (the bytes after the segment's header), copied to an
// exact-size, page-aligned buffer so that AddressSanitizer reports any read past its end. Its
// table is read; a failure must be format_error (never another exception, never a crash). For a
// table that is accepted, the invariants below are checked; a broken one aborts, which libFuzzer
// reports as a crash with the input:
//   * every section of every column lies inside the store and starts on a 4096-byte boundary;
//   * an array column's data is exactly rows x its row's bytes; ragged and strings offsets are
//     (rows + 1) x 8 bytes, or x 4 with offsets32 (de-duplicated: two sections of rows x 8, or
//     x 4); an index's hashes are
//     rows x 8 bytes and its keys column is another column;
//   * column names are unique and NUL-terminated.
//
// Links the format layer (src/format/) and the base layer below it; built by the fuzz preset:
//   cmake --preset fuzz && cmake --build --preset fuzz
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "frozen_format.hpp"
#include "shmpool/error.hpp"

using namespace shmpool::detail;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

void check(const frozen_toc& toc, std::size_t size) {
    std::set<std::string> names;
    for (std::size_t k = 0; k < toc.columns.size(); ++k) {
        const frozen_column& c = toc.columns[k];
        require(c.name[frozen_name_max] == '\0');
        require(names.insert(c.name).second);
        require(c.sections <= frozen_max_sections);
        for (std::uint32_t s = 0; s < c.sections; ++s) {
            require(c.section[s].offset % 4096 == 0);
            require(c.section[s].offset <= size && c.section[s].bytes <= size - c.section[s].offset);
        }
        const std::uint64_t rows = toc.header.rows;
        if (c.kind == std::uint32_t(frozen_kind::index)) {
            require(c.keys_column < toc.columns.size() && c.keys_column != k);
            require(c.section[0].bytes == 8 * rows);
        } else if (c.kind != std::uint32_t(frozen_kind::array)) {
            const std::uint64_t w = (c.flags & frozen_flag_offsets32) ? 4 : 8;
            if (c.flags & frozen_flag_dedup)
                require(c.section[0].bytes == w * rows && c.section[1].bytes == w * rows);
            else
                require(c.section[0].bytes == w * (rows + 1));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> copy(size);
    if (size) std::memcpy(copy.data(), data, size);
    try {
        check(read_frozen_toc(copy.data(), size, "fuzzed store"), size);
    } catch (const shmpool::format_error&) {
        // refused with a clear error: fine
    }
    return 0;
}
