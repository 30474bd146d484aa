// demos/dataset_service/http: the listening socket (listener.hpp).
#include "listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include "../protocol.hpp"

namespace dataset_service::http {

listener open_listener(const std::string& address, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (const int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &found); rc != 0)
        throw std::runtime_error("address " + address + ": " + ::gai_strerror(rc));
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    listener l;
    l.fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l.fd < 0) throw_errno("socket");
    const int yes = 1;
    ::setsockopt(l.fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(l.fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(l.fd, 1024) != 0) {
        const int err = errno;
        ::close(l.fd);
        errno = err;
        throw_errno("listening on " + url_of(address, port));
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&bound), &length);
    l.port = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    return l;
}

std::string url_of(const std::string& address, int port) {
    const bool v6 = address.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

}  // namespace dataset_service::http
