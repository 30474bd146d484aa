// retry_eintr: the one place where interrupted system calls are retried.
#pragma once

#include <cerrno>

namespace shmpool::detail {

/// Calls `call` again while it fails with EINTR (-1 and errno == EINTR); returns its result.
template <class F>
auto retry_eintr(F call) {
    decltype(call()) r;
    do {
        r = call();
    } while (r == -1 && errno == EINTR);
    return r;
}

}  // namespace shmpool::detail
