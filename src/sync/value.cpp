// The errors of the named values, which name the value and say what to do.
#include <cstddef>
#include <cstdint>
#include <string>

#include "shmpool/value.hpp"

namespace shmpool::detail {
namespace {

std::string who(segment_kind kind, std::string_view name) {
    std::string s(kind_name(kind));  // not kind + " '": GCC 12's -Wrestrict misfires
    s.append(" '").append(name).append("'");
    return s;
}

}  // namespace

void throw_value_not_recoverable(segment_kind kind, std::string_view name) {
    throw not_recoverable_error(
        who(kind, name) +
        ": its lock is not recoverable: a process died holding it and the lock was released "
        "without mark_consistent(), so the data may be damaged. Remove it and create it again (" +
        std::string(kind_name(kind)) + "<T>::remove(\"" + std::string(name) + "\"), or `shmpool rm " +
        std::string(name) + "`); next time, repair it after a death: with_lock(f, repair), or "
        "lock() and owner_died() then mark_consistent()");
}

void throw_value_owner_died(segment_kind kind, std::string_view name) {
    throw owner_died_error(
        who(kind, name) +
        ": a process died holding its lock, so the value may be half-written. with_lock(f) "
        "leaves the lock not recoverable now; to go on after such a death, call "
        "with_lock(f, repair), where repair(value) fixes (or accepts) the value, or lock() it, "
        "check owner_died(), repair and mark_consistent()");
}

}  // namespace shmpool::detail

namespace shmpool::detail {
// `shmpool ls` reads a value where the identity says it lies.
static_assert(offsetof(locked_cell<std::int64_t>, value) == locked_cell<std::int64_t>::value_offset());
static_assert(offsetof(locked_cell<double>, value) == locked_cell<double>::value_offset());
static_assert(offsetof(locked_cell<std::int8_t>, value) == locked_cell<std::int8_t>::value_offset());
}  // namespace shmpool::detail
