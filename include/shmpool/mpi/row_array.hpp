// shmpool::mpi::row_array<T>: an N-d array whose rows are spread over the hosts of a cluster,
// each host's block a named shared array of its own.
#pragma once

#include <cstddef>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shmpool/detail/identity.hpp"
#include "shmpool/error.hpp"
#include "shmpool/mpi/cluster.hpp"
#include "shmpool/mpi/detail.hpp"
#include "shmpool/shared_array.hpp"

namespace shmpool::mpi {

/// Options of row_array::create().
struct row_array_options {
    /// Rows of each host, one count per host, summing to the array's rows. Empty: an even
    /// split (the first rows % hosts hosts take one more).
    std::vector<std::size_t> rows_per_host;
    /// How each host's block is created (persistent, replace_existing, mode, populate...).
    create_options create{};
};

/// An array of shape (rows, ...) split by rows into contiguous blocks, one per host: host h
/// holds rows [first_row(), last_row()) in a named shared array of its own, "NAME@hostHofN"
/// (in /dev/shm, or SHMPOOL_SHM_DIR), which numpy maps and `shmpool mem` inspects like any
/// other. The ranks of a host all map that one block; no rank maps another host's.
///
/// A handle: small and trivially copyable, so tasks capture it by value (`[grid]`) and reach
/// their rows through row() or block() in the pool's workers.
///
/// @code
/// auto grid = shmpool::mpi::row_array<float>::create(c, "grid", {8192, 4096});
/// shmpool::mpi::for_each_row(c, grid, [grid](std::size_t r) { grid.row(r).fill(float(r)); });
/// // numpy, on host 1 of 2:  np.load("/dev/shm/grid@host1of2", mmap_mode="r+")
/// @endcode
template <class T>
class row_array {
public:
    using shape_type = std::vector<std::size_t>;

    /// An empty handle (valid() is false).
    row_array() = default;

    /// Creates the distributed array NAME of `shape` (rows first): collective, every rank
    /// calls it with the same name, shape and split. On each host the leader creates the block
    /// and the other ranks open it; either every host has its block when it returns, or none
    /// does and every rank throws cluster_error naming the host and rank where creation
    /// failed (the name taken, no space, an empty shape or a negative dimension, ranks that
    /// passed different names, types or shapes). A `rows_per_host` that does not fit the
    /// hosts is an invalid_argument_error, thrown by every rank. Blocks are removed when the
    /// host's leader exits unless `opts.create.persistent`.
    static row_array create(cluster& c, std::string_view name, const shape_type& shape,
                            const row_array_options& opts = {}) {
        return create_checked(c, name, shape, opts, shape.empty() ? "the shape is empty" : "");
    }
    template <class Int, class = std::enable_if_t<std::is_integral_v<Int>>>
    static row_array create(cluster& c, std::string_view name, std::initializer_list<Int> shape,
                            const row_array_options& opts = {}) {
        shape_type s;
        bool negative = false;
        for (const Int d : shape) {
            negative = negative || d < 0;
            s.push_back(d < 0 ? 0 : static_cast<std::size_t>(d));
        }
        return create_checked(c, name, s, opts,
                              negative       ? "a dimension is negative"
                              : s.empty()    ? "the shape is empty"
                                             : "");
    }

    /// This host's block: a shared_array of shape (last_row() - first_row(), ...).
    const shared_array<T>& block() const noexcept { return block_; }
    /// The global rows this host holds: [first_row(), last_row()).
    std::size_t first_row() const noexcept { return first_; }
    std::size_t last_row() const noexcept { return last_; }
    /// The rows of the whole array, on every host.
    std::size_t rows() const noexcept { return rows_; }
    /// The shape of the whole array.
    shape_type shape() const {
        shape_type s = block_.shape();
        s[0] = rows_;
        return s;
    }
    /// The host this handle's block is on, and the cluster's hosts.
    int host() const noexcept { return host_; }
    int hosts() const noexcept { return hosts_; }
    /// The name given to create() (the block's name without "@hostHofN").
    std::string_view name() const noexcept { return detail::array_name_of_block(block_.name()); }
    bool valid() const noexcept { return hosts_ > 0; }
    /// Whether global row `r` is on this host.
    bool owns(std::size_t r) const noexcept { return r >= first_ && r < last_; }
    /// The index in block() of global row `r`. Throws invalid_argument_error when the row is
    /// on another host (or past the end): a rank never reads another host's rows silently.
    std::size_t local(std::size_t r) const {
        if (!owns(r))
            throw invalid_argument_error(
                "row_array '" + std::string(name()) + "': row " + std::to_string(r) +
                (r >= rows_ ? " is past its end (" + std::to_string(rows_) + " rows)"
                            : " is not on this host") +
                "; host " + std::to_string(host_) + " of " + std::to_string(hosts_) +
                " holds rows [" + std::to_string(first_) + ", " + std::to_string(last_) +
                "): run row tasks with shmpool::mpi::for_each_row, which calls each row's task "
                "on its host");
        return r - first_;
    }
    /// Global row `r` as an xtensor view into this host's block (see local() for the error).
    auto row(std::size_t r) const { return block_.row(local(r)); }

private:
    // The collective part of create(): `problem` (empty: none) is this rank's objection to its
    // own arguments, agreed on before anything else so that no rank waits for one that threw.
    static row_array create_checked(cluster& c, std::string_view name, const shape_type& shape,
                                    const row_array_options& opts, const char* problem) {
        const std::string what = "row_array '" + std::string(name) + "'";
        detail::agree(c,
                      *problem ? std::make_exception_ptr(invalid_argument_error(
                                     what + ": " + problem + "; give (rows, ...)"))
                               : std::exception_ptr(),
                      "row_array::create");
        detail::check_same_everywhere(c, describe(name, shape, opts), "row_array::create");
        row_array a;
        const detail::row_span mine = detail::host_rows(c, shape[0], opts.rows_per_host, what);
        shape_type block_shape = shape;
        block_shape[0] = mine.end - mine.begin;
        const std::string block = detail::block_name(name, c.host(), c.hosts());
        detail::create_blocks(
            c, what, [&] { a.block_ = shared_array<T>::create(block, block_shape, opts.create); },
            [&] { a.block_ = shared_array<T>::open(block); },
            [&] { shared_array<T>::remove(block); });
        a.first_ = mine.begin;
        a.last_ = mine.end;
        a.rows_ = shape[0];
        a.host_ = c.host();
        a.hosts_ = c.hosts();
        return a;
    }
    static std::string describe(std::string_view name, const shape_type& shape,
                                const row_array_options& opts) {
        std::string d = "name '" + std::string(name) + "', element type " +
                        std::string(shmpool::detail::compiler_type_name<T>()) + ", shape (";
        for (std::size_t k = 0; k < shape.size(); ++k)
            d += (k ? ", " : "") + std::to_string(shape[k]);
        d += "), rows per host (";
        for (std::size_t k = 0; k < opts.rows_per_host.size(); ++k)
            d += (k ? ", " : "") + std::to_string(opts.rows_per_host[k]);
        return d + ")";
    }

    shared_array<T> block_{};
    std::size_t first_ = 0, last_ = 0, rows_ = 0;
    int host_ = 0, hosts_ = 0;
};

}  // namespace shmpool::mpi
