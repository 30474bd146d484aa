// frozen_builder's spill files: see frozen_spill.hpp.
#include "frozen_spill.hpp"

#include <fcntl.h>

#include <cerrno>

#include "shmpool/error.hpp"

namespace shmpool::detail {

spill_file::spill_file(const std::string& dir, std::string what)
    : fd_(open_unnamed_file(dir, 0600)), dir_(dir), what_(std::move(what)) {
    if (!fd_)
        throw invalid_argument_error("frozen_builder: cannot spill " + what_ + " to '" + dir +
                                     "': its file system has no unnamed files (O_TMPFILE); "
                                     "give a directory of ext4, xfs, btrfs or tmpfs");
    buffer_.reserve(buffer_bytes);
}

void spill_file::append(const void* data, std::size_t size) {
    const auto* p = static_cast<const std::byte*>(data);
    if (buffer_.size() + size > buffer_bytes) flush();
    if (size >= buffer_bytes) {
        buffer_.insert(buffer_.end(), p, p + size);
        flush();
        return;
    }
    buffer_.insert(buffer_.end(), p, p + size);
}

void spill_file::flush() {
    if (buffer_.empty()) return;
    mapping_.reset();
    if (const int err = write_all(fd_.get(), buffer_.data(), buffer_.size()); err != 0) {
        const std::string what = "frozen_builder: cannot spill " + what_ + " to '" + dir_ + "'";
        if (err == ENOSPC) throw no_space_error(what + ": the disk is full", buffer_.size(), 0);
        throw_errno(err, what);
    }
    written_ += buffer_.size();
    buffer_.clear();
}

std::span<const std::byte> spill_file::map() {
    flush();
    if (written_ == 0) return {};
    if (mapping_.size() != written_)
        mapping_ = map_fd_read_only(fd_.get(), written_, dir_ + " (" + what_ + ", spilled)");
    return {mapping_.data(), written_};
}

}  // namespace shmpool::detail
