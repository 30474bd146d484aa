// shmpool::shared_array<T>: a named N-dimensional array in shared memory, laid out as a .npy file
// and viewed through xtensor.
//
// @code
// auto a = shmpool::shared_array<float>::create("feats", {1000, 128});   // /dev/shm/feats
// xt::row(a.view(), 3).fill(1.0f);
// auto b = shmpool::shared_array<float>::open("feats");   // in this or any other process
// // numpy: numpy.load("/dev/shm/feats", mmap_mode="r+") maps the same pages
// shmpool::shared_array<float>::remove("feats");
// @endcode
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
#include <xtensor/xadapt.hpp>
#include <xtensor/xview.hpp>

#include "shmpool/detail/segment.hpp"
#include "shmpool/dtype.hpp"
#include "shmpool/error.hpp"
#include "shmpool/segment.hpp"

namespace shmpool {

template <class T>
class shared_array;

namespace detail {
/// What the pool reaches inside a shared_array for: the reference it carries to workers.
struct array_access {
    template <class T>
    static array_ref ref(const shared_array<T>& a) noexcept {
        return a.ref();
    }
};
}  // namespace detail

/// A handle to a named, C-order, N-dimensional array of T (rank 1 to 8) in shared memory.
///
/// The array lives in /dev/shm/NAME (or in a file, see file_path) and is a valid .npy file:
/// `numpy.load("/dev/shm/NAME", mmap_mode="r+")` maps the same pages. Any process can attach to
/// it by name with open().
///
/// A handle is small and trivially copyable: copying it copies no data. A copy carried into
/// another process (a lambda captured by value and run in a pool worker, even one forked before
/// the array existed) finds the array by name on first use there and keeps it mapped. A handle
/// refers to one segment: if the name is removed and created again, old handles throw
/// not_found_error instead of reaching the new array.
///
/// Lifetime: by default the array is removed when the process that created it exits normally;
/// `create_options{.persistent = true}` keeps it until remove() or `shmpool rm`. `shmpool gc`
/// removes non-persistent arrays whose creator died without cleaning up.
///
/// Zero-length dimensions are allowed (numpy allows them): such an array holds no elements.
///
/// Fork: safe. A child inherits the mappings; handles work in it unchanged.
/// Threads: all members may be called concurrently; writes to the elements are the caller's to
/// synchronise.
///
/// Read-only handles: shared_array<const T> (what open_read_only() returns) maps the array
/// PROT_READ and gives const access only; a shared_array<T> converts to it.
template <class T>
class shared_array {
    static_assert(!std::is_volatile_v<T> && !std::is_reference_v<T>,
                  "shmpool::shared_array<T>: T must be a plain element type such as double");

    using element = std::remove_const_t<T>;
    static constexpr bool read_only = std::is_const_v<T>;
    static constexpr detail::access mode =
        read_only ? detail::access::read_only : detail::access::read_write;
    template <class>
    friend class shared_array;
    static std::shared_ptr<void> make_element_view(const detail::mapped_segment& s);
    static constexpr detail::view_factory factory = &shared_array<element>::make_element_view;

public:
    using value_type = T;
    using shape_type = std::vector<std::size_t>;
    /// The xtensor expression over the shared elements (an xarray_adaptor, C order); a
    /// read-only handle's view() gives it const.
    using view_type = decltype(xt::adapt(std::declval<element*>(), std::size_t{},
                                         xt::no_ownership(), std::declval<const shape_type&>()));

    /// An empty handle; using it throws shmpool::error. Assign a created or opened one.
    shared_array() = default;

    /// A read-only handle to the array of `writable` (no new mapping until it is used in
    /// another process).
    template <class U = T, class = std::enable_if_t<std::is_const_v<U>>>
    shared_array(const shared_array<element>& writable) noexcept  // NOLINT: implicit, as T* to const T*
        : handle_(writable.handle_) {}

    /// Creates the array NAME in /dev/shm, zero-filled, with mode 0600 unless `opts` says
    /// otherwise. The space is taken now (its pages allocated and mapped, or reserved with
    /// opts.populate = false): if /dev/shm cannot hold it, this throws no_space_error rather
    /// than letting a later write die of SIGBUS. Nothing is left behind on failure; the name
    /// appears once the header is written, the elements reading as zeros.
    /// Throws invalid_argument_error (bad name, rank outside 1..8, byte size overflows),
    /// already_exists_error (unless opts.replace_existing), no_space_error, system_error.
    static shared_array create(std::string_view name, const shape_type& shape,
                               const create_options& opts = {}) {
        static_assert(!read_only, "shmpool::shared_array<const T>: create a shared_array<T>");
        return shared_array(detail::location::shm(name), [&](const detail::location& at) {
            return &detail::create_segment(at, dtype_of<element>, shape, opts, factory);
        });
    }
    /// Creates a file-backed array at `file.path` (a .npy file); otherwise as above.
    static shared_array create(const file_path& file, const shape_type& shape,
                               const create_options& opts = {}) {
        static_assert(!read_only, "shmpool::shared_array<const T>: create a shared_array<T>");
        return shared_array(detail::location::file(file.path), [&](const detail::location& at) {
            return &detail::create_segment(at, dtype_of<element>, shape, opts, factory);
        });
    }
    /// The same with the dimensions given as integers of any type, so that
    /// `create("x", {rows, cols})` compiles with int sizes as with std::size_t ones. Throws
    /// invalid_argument_error for a negative dimension.
    template <class Int, class = std::enable_if_t<std::is_integral_v<Int>>>
    static shared_array create(std::string_view name, std::initializer_list<Int> shape,
                               const create_options& opts = {}) {
        return create(name, to_shape(name, shape), opts);
    }
    template <class Int, class = std::enable_if_t<std::is_integral_v<Int>>>
    static shared_array create(const file_path& file, std::initializer_list<Int> shape,
                               const create_options& opts = {}) {
        return create(file, to_shape(file.path, shape), opts);
    }

    /// Attaches to the existing array NAME, made by shmpool or saved by numpy (C order,
    /// little-endian, a dtype that matches T).
    /// Throws not_found_error (says where it looked), type_mismatch_error (names both types),
    /// format_error (not a valid array: another program's segment, truncated, corrupted),
    /// system_error (for example, another user's segment).
    /// A shared_array<const T> opens read-only, as open_read_only() does.
    static shared_array open(std::string_view name) {
        return shared_array(detail::location::shm(name), [](const detail::location& at) {
            return &detail::open_segment(at, dtype_of<element>, factory, {}, mode);
        });
    }
    /// Attaches to the .npy file at `file.path`; otherwise as above.
    static shared_array open(const file_path& file) {
        return shared_array(detail::location::file(file.path), [](const detail::location& at) {
            return &detail::open_segment(at, dtype_of<element>, factory, {}, mode);
        });
    }

    /// Attaches to the existing array NAME read-only: the file is opened O_RDONLY and mapped
    /// PROT_READ, so it needs only read permission (a segment created with mode 0644 by another
    /// user, a .npy file on a read-only file system), and the handle gives const access only.
    /// Throws as open().
    ///
    /// @code
    /// auto grid = shmpool::shared_array<double>::open_read_only("grid");  // shared_array<const double>
    /// double total = xt::sum(grid.view())();
    /// @endcode
    static shared_array<const element> open_read_only(std::string_view name) {
        return shared_array<const element>::open(name);
    }
    /// The file-backed form; otherwise as above.
    static shared_array<const element> open_read_only(const file_path& file) {
        return shared_array<const element>::open(file);
    }

    /// Removes the name NAME and unmaps the array in this process; its memory is freed once no
    /// process maps it. Pool workers drop their mapping by themselves, at the start of their next
    /// call (or within 100 ms when idle); other processes that opened it keep it mapped until
    /// they call shmpool::release_removed_arrays() or exit. Handles in this process throw
    /// not_found_error afterwards.
    /// Throws not_found_error, format_error (the file is not an array; it is left alone).
    static void remove(std::string_view name) {
        detail::remove_segment(detail::location::shm(name));
    }
    /// Removes the file-backed array at `file.path`; otherwise as above.
    static void remove(const file_path& file) {
        detail::remove_segment(detail::location::file(file.path));
    }

    /// The elements as an xtensor expression. The reference stays valid until the array is
    /// removed in this process, so `xt::row(a.view(), i)` and `auto r = xt::row(a.view(), i)`
    /// are safe.
    std::conditional_t<read_only, const view_type&, view_type&> view() const {
        return *static_cast<view_type*>(segment().view.get());
    }

    /// Row `i` of a 2-D array as an xtensor view: `xt::row(view(), i)` with the index a
    /// std::size_t, as the pool's tasks receive it (xt::row takes a signed index, which warns
    /// under -Wsign-conversion). The view refers to the array's own view: it stays valid as
    /// long as view() does.
    auto row(std::size_t i) const { return xt::row(view(), static_cast<std::ptrdiff_t>(i)); }

    /// The shape, as numpy would print it.
    const shape_type& shape() const { return segment().shape; }

    /// The name given to create() or open() (without a leading '/'), or the file path.
    std::string_view name() const noexcept { return handle_.where().text(); }

    /// The file that holds the array, a valid .npy file: /dev/shm/NAME (or $SHMPOOL_SHM_DIR/NAME),
    /// or the file path. numpy maps the same pages with numpy.load(path(), mmap_mode='r+').
    std::string path() const { return handle_.where().path(); }

    /// The first element; the others follow in C order.
    T* data() const { return reinterpret_cast<T*>(segment().data); }

    /// Whether this handle gives read-only access (shared_array<const T>).
    static constexpr bool is_read_only() noexcept { return read_only; }

    /// The number of elements.
    std::size_t size() const { return segment().count; }

    /// The number of dimensions.
    std::size_t rank() const { return shape().size(); }

    /// Whether the array lives in a regular file rather than /dev/shm.
    bool is_file_backed() const noexcept { return handle_.where().is_file(); }

    /// False for a default-constructed handle.
    explicit operator bool() const noexcept { return !handle_.empty(); }

private:
    friend struct detail::array_access;

    template <class Make>
    shared_array(const detail::location& where, Make make) : handle_(*make(where)) {}

    // What shmpool needs to find this array in another process (the pool's first-touch hint
    // and its result buffers).
    detail::array_ref ref() const noexcept {
        return {handle_.where(), handle_.id(), dtype_of<element>, factory};
    }

    // One view factory for T and const T: a process may hold both kinds of handle to one
    // array, and they share its view (const access is the read-only handle's business).

    template <class Text, class Int>
    static shape_type to_shape(const Text& name, std::initializer_list<Int> dims) {
        shape_type shape;
        for (const Int d : dims) {
            if constexpr (std::is_signed_v<Int>) {
                if (d < 0)
                    throw invalid_argument_error("cannot create array '" + std::string(name) +
                                                 "': dimension " + std::to_string(d) +
                                                 " is negative");
            }
            shape.push_back(static_cast<std::size_t>(d));
        }
        return shape;
    }

    detail::mapped_segment& segment() const {
        return handle_.get(dtype_of<element>, factory, mode);
    }

    detail::segment_handle handle_;
};

template <class T>
std::shared_ptr<void> shared_array<T>::make_element_view(const detail::mapped_segment& s) {
    return std::make_shared<view_type>(
        xt::adapt(reinterpret_cast<element*>(s.data), s.count, xt::no_ownership(), s.shape));
}

/// Unmaps, in this process, every array whose name was removed (or now leads to another
/// array) since this process mapped it, so that its memory can be freed; returns how many.
/// Pointers and views into those arrays become invalid and their handles throw
/// not_found_error. Call it where no such pointer is in use, for example in a service's loop
/// between requests. Pool workers do it by themselves between calls. Costs one stat(2) per
/// array mapped in this process. Throws nothing.
inline std::size_t release_removed_arrays() noexcept {
    try {
        return detail::release_removed_segments();
    } catch (...) {
        return 0;
    }
}

}  // namespace shmpool
