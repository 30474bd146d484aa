// A frozen_builder column's bytes written to an unlinked file as they are pushed (a builder
// with a spill directory), and mapped read-only when the store is published: what lets a store
// bigger than memory be built. Not a public API.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "os.hpp"

namespace shmpool::detail {

class spill_file {
public:
    /// An unlinked file in `dir`; `what` names it in errors ("column 'name'"). Throws
    /// invalid_argument_error (no such directory, or no O_TMPFILE there), system_error.
    spill_file(const std::string& dir, std::string what);

    /// Appends `size` bytes (buffered). Throws no_space_error, system_error.
    void append(const void* data, std::size_t size);
    /// Bytes appended so far.
    std::size_t size() const noexcept { return written_ + buffer_.size(); }
    /// Everything appended, mapped read-only (valid until the next append or the destructor).
    std::span<const std::byte> map();

private:
    void flush();
    static constexpr std::size_t buffer_bytes = std::size_t{4} << 20;
    file_descriptor fd_;
    std::string dir_, what_;
    std::vector<std::byte> buffer_;
    std::size_t written_ = 0;
    mapped_region mapping_;
};

}  // namespace shmpool::detail
