// Opening the file of an existing segment: shared by the segment table and the catalog.
#pragma once

#include "os.hpp"
#include "shmpool/detail/segment.hpp"

namespace shmpool::detail {

/// Opens the file of an existing segment without following a symlink or blocking on a FIFO.
/// Throws not_found_error (says where it looked and what to do), format_error (not a regular
/// file, a directory), system_error (permission...). Messages call it a `kind` ("array",
/// "value", "object").
file_descriptor open_existing(const location& where, int flags,
                              segment_kind kind = segment_kind::array);

}  // namespace shmpool::detail
