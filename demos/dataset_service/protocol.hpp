// demos/dataset_service: the wire protocol and its socket helpers. On a local (AF_UNIX, abstract
// namespace) stream socket, one request per connection: a header, then `queries` x `dim`
// float32. The reply: a header, then either `queries` x `k` hits (status 0) or a message of
// `message_bytes` bytes (status 1).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace dataset_service {

constexpr std::uint32_t request_magic = 0x314e4e4b;  // "KNN1"
constexpr std::uint32_t reply_magic = 0x31504552;    // "REP1"
constexpr std::size_t max_batch = 4096;
constexpr std::size_t max_k = 1000;

struct request_header {
    std::uint32_t magic = request_magic;
    std::uint32_t queries = 0;
    std::uint32_t dim = 0;
    std::uint32_t k = 0;
};

struct reply_header {
    std::uint32_t magic = reply_magic;
    std::uint32_t status = 0;
    std::uint32_t queries = 0;
    std::uint32_t k = 0;
    std::uint32_t worker = 0;
    std::uint32_t message_bytes = 0;
    double scan_seconds = 0;       // the worker's scan, under the shared lock
    double lock_wait_seconds = 0;  // how long it waited for the shared lock (behind a writer)
};

/// Throws std::system_error for errno, saying `what` failed.
[[noreturn]] void throw_errno(const std::string& what);

struct socket_address {
    sockaddr_un addr{};
    socklen_t length = 0;
};

/// The abstract-namespace address "@name": nothing in the file system, gone with the socket.
socket_address address_of(const std::string& name);

/// A socket descriptor, closed with its owner.
class socket_fd {
public:
    explicit socket_fd(int fd = -1) noexcept : fd_(fd) {}
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset(int fd = -1) noexcept;

private:
    int fd_;
};

/// Sets the send and receive timeouts of `fd` to `seconds`.
void set_patience(int fd, long seconds);

void send_all(int fd, const void* data, std::size_t bytes);

/// Reads exactly `bytes`; false if the peer closed the connection before the first byte.
bool recv_all(int fd, void* data, std::size_t bytes);

}  // namespace dataset_service
