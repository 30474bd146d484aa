// demos/dataset_service/http: the listening TCP socket the workers share.
#pragma once

#include <string>

namespace dataset_service::http {

struct listener {
    int fd = -1;
    int port = 0;  // the port bound (the one chosen when asked for 0)
};

/// A non-blocking TCP socket listening on address:port (a numeric IPv4 or IPv6 address or a
/// host name; port 0 picks a free port). Throws std::system_error / std::runtime_error.
listener open_listener(const std::string& address, int port);

/// "http://address:port/" as a client writes it ([ ] around an IPv6 address).
std::string url_of(const std::string& address, int port);

}  // namespace dataset_service::http
