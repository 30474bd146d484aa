// SHMPOOL_API marks what libshmpool exports. The library is compiled with hidden visibility
// (-fvisibility=hidden), so a shared build exports exactly the classes and functions marked
// here, the public API; in a static build the mark changes nothing.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define SHMPOOL_API __attribute__((visibility("default")))
#else
#define SHMPOOL_API
#endif
