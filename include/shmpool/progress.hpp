// When shmpool draws a progress line on stderr: for long pool calls and long creations.
#pragma once

#include <cstdint>

namespace shmpool {

/// When the progress line is drawn on stderr: `automatic` only when stderr is a terminal,
/// `always`, or `never`. Either way the line appears only once the work has lasted half a
/// second, at most 5 times a second, and ends with a newline.
enum class progress : std::uint8_t { automatic, always, never };

}  // namespace shmpool
