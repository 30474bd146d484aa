#!/usr/bin/env python3
"""Checks that shmpool's layers include only what is below them.

The library has six layers, lowest first (README, "Layout of the repository"):

    base < format < segment < sync < pool < inspect < mpi

Each has a folder in src/ and the public headers listed in LAYERS. A file may include headers of
its own layer and of the layers below it, never above. Public headers (include/shmpool/) never
include a private header of src/. tools/, demos/ and bench/ use the public API only: no
`shmpool/detail/` header, no header of src/.

Usage: scripts/check_layers.py [ROOT]   (exit 0: clean; 1: a violation, each printed)
"""
import pathlib
import re
import sys

ORDER = ["base", "format", "segment", "sync", "pool", "inspect", "mpi", "umbrella"]

# Public headers (relative to include/shmpool/) by layer.
LAYERS = {
    "base": ["error.hpp", "progress.hpp", "detail/deadline.hpp", "detail/limits.hpp",
             "detail/pid.hpp", "detail/timed_wait.hpp", "detail/export.hpp", "process.hpp",
             "detail/process_shareable.hpp"],
    "format": ["dtype.hpp", "detail/identity.hpp"],
    "segment": ["segment.hpp", "detail/segment.hpp", "shared_array.hpp", "catalog.hpp",
                "detail/object_storage.hpp", "shared_object.hpp", "frozen.hpp",
                "frozen_builder.hpp", "detail/frozen_state.hpp"],
    "sync": ["robust_mutex.hpp", "shared_rwlock.hpp", "semaphore.hpp", "barrier.hpp",
             "event.hpp", "file_lock.hpp", "value.hpp", "detail/value_storage.hpp",
             "managed_heap.hpp", "layered_store.hpp"],
    "pool": ["process_pool.hpp", "call_handle.hpp", "detail/stream_core.hpp", "detail/stream_ranges.hpp", "detail/pool_tasks.hpp", "detail/imap_range.hpp",
             "detail/task_args.hpp"],
    "inspect": ["memory.hpp"],
    "mpi": ["mpi.hpp", "mpi/cluster.hpp", "mpi/detail.hpp", "mpi/row_array.hpp", "mpi/rows.hpp",
            "mpi/collectives.hpp"],
    "umbrella": ["shmpool.hpp"],
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    public = {f"shmpool/{h}": layer for layer, hs in LAYERS.items() for h in hs}
    private = {}  # header basename -> layer, for src/<layer>/*.hpp
    for layer in ORDER:
        for h in (root / "src" / layer).glob("*.hpp"):
            if h.name in private:
                print(f"src/{layer}/{h.name}: a private header of this name exists in "
                      f"src/{private[h.name]}/ too")
            private[h.name] = layer
    errors = []
    rank = {layer: i for i, layer in enumerate(ORDER)}

    def layer_of_include(name):
        if name in public:
            return public[name]
        if name.startswith("shmpool/"):
            return None  # unknown public header: reported below
        return private.get(pathlib.PurePath(name).name)

    for path in (root / "include" / "shmpool").rglob("*.hpp"):
        rel = str(path.relative_to(root / "include"))
        own = public.get(rel)
        if own is None:
            errors.append(f"include/{rel}: not assigned to a layer in scripts/check_layers.py")
            continue
        for inc in INCLUDE.findall(path.read_text()):
            if not inc.startswith("shmpool/"):
                errors.append(f"include/{rel}: includes the private header \"{inc}\"")
                continue
            theirs = layer_of_include(inc)
            if theirs is None:
                errors.append(f"include/{rel}: includes \"{inc}\", which has no layer")
            elif rank[theirs] > rank[own]:
                errors.append(f"include/{rel} ({own}) includes \"{inc}\" ({theirs}): a higher layer")

    for layer in ORDER:
        for path in sorted((root / "src" / layer).glob("*.[ch]pp")):
            rel = path.relative_to(root)
            for inc in INCLUDE.findall(path.read_text()):
                theirs = layer_of_include(inc)
                if theirs is None:
                    errors.append(f"{rel}: includes \"{inc}\", which has no layer")
                elif rank[theirs] > rank[layer]:
                    errors.append(f"{rel} ({layer}) includes \"{inc}\" ({theirs}): a higher layer")
    flat = [p.name for p in (root / "src").glob("*.[ch]pp")]
    if flat:
        errors.append(f"src/: files outside a layer folder: {', '.join(sorted(flat))}")

    for folder in ("tools", "demos", "bench"):
        for path in sorted((root / folder).rglob("*.[ch]pp")):
            rel = path.relative_to(root)
            for inc in INCLUDE.findall(path.read_text()):
                if inc.startswith("shmpool/detail/"):
                    errors.append(f"{rel}: includes \"{inc}\": {folder}/ uses the public API only")
                elif pathlib.PurePath(inc).name in private and not inc.startswith("shmpool/"):
                    errors.append(f"{rel}: includes the private header \"{inc}\"")

    for e in errors:
        print(e)
    if errors:
        print(f"check_layers: {len(errors)} violation(s)")
        return 1
    print("check_layers: every include goes to the same or a lower layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
