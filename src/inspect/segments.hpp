// Segments: the shared mappings of a set of processes, grouped by the file they map.
#pragma once

#include <vector>

#include "shmpool/memory.hpp"

namespace shmpool::detail {

/// Groups the MAP_SHARED mappings of `processes` by device and inode (by name for inode 0),
/// measures each segment's resident size and says whether the processes hold one copy
/// (sum of PSS = resident, within 1 kB per mapping). Largest first.
std::vector<segment_memory> collect_segments(const std::vector<process_memory>& processes);

}  // namespace shmpool::detail
