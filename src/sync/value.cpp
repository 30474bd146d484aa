#include "shmpool/value.hpp"

#include <cstring>
#include <string>

namespace shmpool::detail {
namespace {

constexpr char value_magic[8] = {'S', 'H', 'M', 'V', 'A', 'L', '0', '1'};

std::string kind_name(value_kind k) { return k == value_kind::locked ? "value" : "raw_value"; }

}  // namespace

void write_value_header(std::byte* at, value_kind kind, std::size_t count, std::size_t size,
                        const char* type) noexcept {
    value_header h{};
    std::memcpy(h.magic, value_magic, sizeof h.magic);
    h.kind = kind;
    h.count = static_cast<std::uint32_t>(count);
    h.element_size = size;
    std::strncpy(h.type, type, sizeof h.type - 1);
    std::memcpy(at, &h, sizeof h);
}

void check_value_header(const mapped_segment& s, value_kind kind, std::size_t size,
                        std::size_t data_offset, const char* type) {
    std::string who = "'";  // not "'" + std::string(...) + "'": GCC 12's -Wrestrict misfires
    who.append(s.where.text()).append("'");
    value_header h{};
    if (s.count < sizeof h)
        throw format_error(who + " is not a shmpool value (too small for its header)");
    std::memcpy(&h, s.data, sizeof h);
    if (std::memcmp(h.magic, value_magic, sizeof h.magic) != 0)
        throw format_error(who +
                           " is not a shmpool value (an array or another program's "
                           "segment); open it with shared_array<T>::open");
    if (h.kind != kind)
        throw type_mismatch_error(who + " is a " + kind_name(h.kind) + ", not a " +
                                  kind_name(kind) + "; open it as " + kind_name(h.kind));
    char wanted[sizeof h.type] = {};
    std::strncpy(wanted, type, sizeof wanted - 1);
    if (h.element_size != size || std::strncmp(h.type, wanted, sizeof h.type) != 0)
        throw type_mismatch_error(who + " holds elements of type '" + std::string(h.type) + "' (" +
                                  std::to_string(h.element_size) + " bytes), not '" + wanted +
                                  "' (" + std::to_string(size) +
                                  " bytes); open it with the type it was created with");
    const std::size_t needed = data_offset + h.count * size;
    if (s.count < needed)
        throw format_error(who +
                           " is truncated: its header announces more "
                           "elements than it holds");
}

}  // namespace shmpool::detail
