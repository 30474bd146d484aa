#include "shmpool/catalog.hpp"

#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
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

// The number a value of type `type` holds in `bytes`, as text; "" for other types.
std::string number_text(std::string_view type, const unsigned char* bytes) {
    const auto as = [bytes](auto v) {
        std::memcpy(&v, bytes, sizeof v);
        return v;
    };
    char out[64] = "";
    if (type == "bool") return as(false) ? "true" : "false";
    if (type == "int8") return std::to_string(as(std::int8_t{}));
    if (type == "int16") return std::to_string(as(std::int16_t{}));
    if (type == "int32") return std::to_string(as(std::int32_t{}));
    if (type == "int64") return std::to_string(as(std::int64_t{}));
    if (type == "uint8") return std::to_string(as(std::uint8_t{}));
    if (type == "uint16") return std::to_string(as(std::uint16_t{}));
    if (type == "uint32") return std::to_string(as(std::uint32_t{}));
    if (type == "uint64") return std::to_string(as(std::uint64_t{}));
    if (type == "float32") std::snprintf(out, sizeof out, "%.9g", static_cast<double>(as(0.0f)));
    if (type == "float64") std::snprintf(out, sizeof out, "%.17g", as(0.0));
    return out;
}

// A value's or raw_value's number, read where its identity says it lies.
std::string value_of(int fd, const std::string& path, const detail::segment_description& d) {
    const detail::segment_identity& id = d.identity;
    if (id.kind != detail::segment_kind::value && id.kind != detail::segment_kind::raw_value)
        return {};
    unsigned char bytes[16] = {};
    if (id.type_size > sizeof bytes || id.payload_offset + id.type_size > d.data_bytes) return {};
    if (detail::read_at(fd, bytes, id.type_size, d.header.data_offset + id.payload_offset,
                        path) != id.type_size)
        return {};
    return number_text(id.type(), bytes);
}

array_info info_of(const detail::location& where) {
    const std::string path = where.path();
    const std::string who = where.describe() + " (" + path + ")";
    detail::file_descriptor fd = detail::open_existing(where, O_RDONLY);
    const detail::segment_description d = detail::describe_fd(fd.get(), path, who);

    array_info info;
    info.name = std::string(where.text());
    info.path = path;
    info.dtype = std::string(dtype_name(d.type));
    info.kind = std::string(detail::kind_name(d.identity.kind));
    info.type = d.identity.kind == detail::segment_kind::array ? info.dtype
                                                               : std::string(d.identity.type());
    info.value = value_of(fd.get(), path, d);
    info.shape = d.header.shape;
    info.data_bytes = d.data_bytes;
    info.file_bytes = d.file_size;
    if (d.trailer) {
        info.made_by_shmpool = true;
        info.creator_pid = static_cast<pid_t>(d.trailer->creator_pid);
        info.creator_elsewhere = !detail::created_on_this_host(*d.trailer);
        info.creator_alive = detail::creator_running(*d.trailer);
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
