#include "shmpool/catalog.hpp"

#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "open_existing.hpp"
#include "os.hpp"
#include "segment_format.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"

namespace shmpool {
namespace {

constexpr std::string_view staging_prefix = ".shmpool-tmp-";

array_info info_of(const detail::location& where) {
    const std::string path = where.path();
    const std::string who = where.describe() + " (" + path + ")";
    detail::file_descriptor fd = detail::open_existing(where, O_RDONLY);
    const detail::segment_description d = detail::describe_fd(fd.get(), path, who);

    array_info info;
    info.name = std::string(where.text());
    info.path = path;
    info.dtype = std::string(dtype_name(d.type));
    info.shape = d.header.shape;
    info.data_bytes = d.data_bytes;
    info.file_bytes = d.file_size;
    if (d.trailer) {
        info.made_by_shmpool = true;
        info.creator_pid = static_cast<pid_t>(d.trailer->creator_pid);
        info.creator_alive = detail::process_alive(info.creator_pid, d.trailer->creator_start_time);
        info.persistent = (d.trailer->flags & detail::trailer_persistent) != 0;
        info.created_unix_ns = d.trailer->created_unix_ns;
    }
    return info;
}

// Names in the shm directory; throws if it cannot be listed.
std::vector<std::string> shm_names() {
    const std::string& dir = detail::shm_directory();
    int err = 0;
    std::vector<std::string> names = detail::list_directory(dir, err);
    if (err != 0) detail::throw_errno(err, "cannot list " + dir);
    std::sort(names.begin(), names.end());
    return names;
}

// The creator PID of a staging file ".shmpool-tmp-PID-N-NAME", or 0.
pid_t staging_pid(std::string_view name) {
    if (name.substr(0, staging_prefix.size()) != staging_prefix) return 0;
    name.remove_prefix(staging_prefix.size());
    pid_t pid = 0;
    for (char c : name) {
        if (c < '0' || c > '9') break;
        pid = pid * 10 + (c - '0');
    }
    return pid;
}

}  // namespace

std::vector<array_info> list_arrays() {
    std::vector<array_info> out;
    for (const std::string& name : shm_names()) {
        if (name.front() == '.') continue;
        try {
            out.push_back(info_of(detail::location::shm(name)));
        } catch (const error&) {
            // not an array, unreadable, or removed while listing: not ours to show
        }
    }
    return out;
}

array_info describe_array(std::string_view name) { return info_of(detail::location::shm(name)); }

array_info describe_array(const file_path& file) {
    return info_of(detail::location::file(file.path));
}

void remove_array(std::string_view name) { detail::remove_segment(detail::location::shm(name)); }

void remove_array(const file_path& file) {
    detail::remove_segment(detail::location::file(file.path));
}

std::vector<std::string> collect_garbage(bool dry_run) {
    std::vector<std::string> removed;
    for (const std::string& name : shm_names()) {
        const pid_t staged_by = staging_pid(name);
        if (staged_by != 0) {
            if (detail::process_alive(staged_by)) continue;
            if (dry_run || detail::unlink_path(detail::shm_directory() + "/" + name) == 0)
                removed.push_back(name);
            continue;
        }
        if (name.front() == '.') continue;
        array_info info;
        try {
            info = info_of(detail::location::shm(name));
        } catch (const error&) {
            continue;
        }
        if (!info.made_by_shmpool || info.persistent || info.creator_alive) continue;
        if (dry_run || detail::unlink_path(info.path) == 0) removed.push_back(name);
    }
    return removed;
}

}  // namespace shmpool
