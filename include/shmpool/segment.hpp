// Where a shared object lives and how it is created: names in /dev/shm, file paths, options.
#pragma once

#include <sys/types.h>

#include <string>

#include "shmpool/progress.hpp"

namespace shmpool {

/// Marks an array as backed by a regular file instead of /dev/shm:
/// `shared_array<float>::create(shmpool::file_path{"/data/features.npy"}, {n, d})`.
/// The file is a .npy file that numpy can load; it outlives reboots and may be larger than RAM
/// (the kernel pages it in and out). Like any file it stays until it is removed
/// (shared_array<T>::remove(file_path{...}) or `shmpool rm PATH`): creating it is writing a
/// file, and its creator's exit does not remove it, whatever create_options::persistent says.
/// Paths are limited to 1023 bytes.
struct file_path {
    std::string path;
};

/// How create() makes a new segment.
struct create_options {
    /// Replace an existing array of the same name atomically instead of throwing
    /// already_exists_error. Processes that had the old one mapped keep it until they drop it.
    bool replace_existing = false;

    /// Keep an array of /dev/shm when the creating process exits. By default such an array is
    /// removed when the process that created it exits (normally, on SIGINT or SIGTERM without a
    /// handler of its own, or on std::terminate / abort()), and `shmpool gc` removes it once
    /// that process died otherwise (SIGKILL, a crash). A persistent array stays until remove()
    /// or `shmpool rm`. File-backed arrays (file_path) are always kept.
    bool persistent = false;

    /// Permission bits of the segment. The default lets only the creating user attach.
    mode_t mode = 0600;

    /// Allocate every page of the new array and map it writable in the creating process at
    /// once (MADV_POPULATE_WRITE, from one short-lived thread per core, at most 8, all joined
    /// before create() returns). Creation takes longer; the first fill then runs at memory speed
    /// instead of paying a page fault per 4 KiB page. With false, the space is reserved
    /// (posix_fallocate) and pages are mapped where they are first touched, for instance by the
    /// pool's workers. Either way a full file system is a no_space_error from create().
    bool populate = true;

    /// A progress line on stderr while a populated array is created (it takes seconds for
    /// gigabytes: the kernel allocates and zeroes every page). `automatic`: when stderr is a
    /// terminal and the creation lasts over half a second.
    progress show_progress = progress::automatic;
};

}  // namespace shmpool
