// Where a segment lives: a validated name in /dev/shm, or a file path.
#include <limits.h>

#include <cstring>
#include <string>

#include "os.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"

namespace shmpool::detail {

location location::shm(std::string_view name) {
    const std::string shown(name);
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    if (name.empty())
        throw invalid_argument_error("array name '" + shown +
                                     "' is empty: give a name such as 'grid'");
    if (name.find('\0') != std::string_view::npos)
        throw invalid_argument_error("an array name holds a NUL byte");
    if (name.find('/') != std::string_view::npos)
        throw invalid_argument_error(
            "array name '" + shown + "' contains '/': names in " + shm_directory() +
            " are flat; to back an array with a file, pass shmpool::file_path{\"" + shown + "\"}");
    if (name == "." || name == "..")
        throw invalid_argument_error("array name '" + shown + "' is not a usable file name");
    if (name.size() > NAME_MAX)
        throw invalid_argument_error("array name '" + shown.substr(0, 40) + "...' is " +
                                     std::to_string(name.size()) + " bytes long; the OS allows " +
                                     std::to_string(NAME_MAX));
    location l;
    std::memcpy(l.text_, name.data(), name.size());
    l.length_ = static_cast<std::uint16_t>(name.size());
    return l;
}

location location::file(std::string_view path) {
    const std::string shown(path);
    if (path.empty()) throw invalid_argument_error("array file path is empty");
    if (path.find('\0') != std::string_view::npos)
        throw invalid_argument_error("an array file path holds a NUL byte");
    if (path.size() > max_location_length)
        throw invalid_argument_error("array file path '" + shown.substr(0, 40) + "...' is " +
                                     std::to_string(path.size()) + " bytes long; shmpool allows " +
                                     std::to_string(max_location_length));
    if (path.back() == '/')
        throw invalid_argument_error("array file path '" + shown + "' names a directory");
    location l;
    std::memcpy(l.text_, path.data(), path.size());
    l.length_ = static_cast<std::uint16_t>(path.size());
    l.is_file_ = true;
    return l;
}

std::string location::path() const {
    if (is_file_) return std::string(text());
    return shm_directory() + "/" + std::string(text());
}

std::string location::directory() const {
    if (!is_file_) return shm_directory();
    const std::string p(text());
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : p.substr(0, slash);
}

std::string location::describe(std::string_view kind) const {
    return std::string(kind) + (is_file_ ? " file '" : " '") + std::string(text()) + "'";
}

}  // namespace shmpool::detail
