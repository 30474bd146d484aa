// demos/dataset_service: the socket helpers of the wire protocol (protocol.hpp).
#include "protocol.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace dataset_service {

void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

socket_address address_of(const std::string& name) {
    socket_address a;
    a.addr.sun_family = AF_UNIX;
    if (name.size() + 1 > sizeof(a.addr.sun_path)) throw std::invalid_argument("socket name");
    std::memcpy(a.addr.sun_path + 1, name.data(), name.size());
    a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return a;
}

void socket_fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

void set_patience(int fd, long seconds) {
    const timeval patience{seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
}

void send_all(int fd, const void* data, std::size_t bytes) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("send");
        }
        p += n;
        bytes -= static_cast<std::size_t>(n);
    }
}

bool recv_all(int fd, void* data, std::size_t bytes) {
    auto* p = static_cast<char*>(data);
    const std::size_t wanted = bytes;
    while (bytes > 0) {
        const ssize_t n = ::recv(fd, p, bytes, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                throw std::runtime_error("recv: timed out");
            throw_errno("recv");
        }
        if (n == 0) {
            if (bytes == wanted) return false;
            throw std::runtime_error("connection closed in the middle of a message");
        }
        p += n;
        bytes -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace dataset_service
