// The storage behind shared_object<T> and the named values: one object of type Cell in a named
// segment, constructed before the name appears, with its kind and type recorded in the
// segment's trailer and checked by every open.
#pragma once

#include <chrono>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "shmpool/detail/deadline.hpp"
#include "shmpool/detail/identity.hpp"
#include "shmpool/detail/process_shareable.hpp"
#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"
#include "shmpool/segment.hpp"

namespace shmpool::detail {

/// Waits for a name to appear: the pause between two looks at it (1 ms, doubling, at most 20).
inline void pause_before_looking_again(std::chrono::microseconds& pause) {
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
}

template <class Cell>
class object_storage {
public:
    object_storage() = default;

    /// Creates segment NAME holding Cell(args...), built before the name appears.
    template <class... Args>
    static object_storage create(std::string_view name, const create_options& opts,
                                 const segment_identity& id, Args&&... args) {
        std::tuple<Args&&...> pack(std::forward<Args>(args)...);
        const segment_initializer init{&construct<decltype(pack)>, &pack};
        return object_storage(create_segment(location::shm(name), dtype::uint8, {sizeof(Cell)},
                                             opts, &make_view, init, id));
    }

    /// Attaches to segment NAME, which must hold `id`.
    static object_storage open(std::string_view name, const segment_identity& id) {
        return object_storage(open_segment(location::shm(name), dtype::uint8, &make_view, id));
    }

    /// open(), waiting until `deadline` for the name to appear.
    static object_storage open_waiting(std::string_view name, const segment_identity& id,
                                       steady_time deadline) {
        for (auto pause = std::chrono::microseconds(1000);;) {
            try {
                return open(name, id);
            } catch (const not_found_error& e) {
                if (std::chrono::steady_clock::now() >= deadline)
                    throw not_found_error(std::string(e.what()) + " (waited for it to appear)");
            }
            pause_before_looking_again(pause);
        }
    }

    /// Opens segment NAME, or creates it holding Cell(args...) if it does not exist. Race-free:
    /// creation is atomic (the name appears once the object is built), so among processes
    /// racing here exactly one creates and the others open what it built.
    template <class... Args>
    static object_storage open_or_create(std::string_view name, const create_options& opts,
                                         const segment_identity& id, Args&&... args) {
        for (int attempt = 0;; ++attempt) {
            try {
                return open(name, id);
            } catch (const not_found_error&) {
            }
            try {
                return create(name, opts, id, std::forward<Args>(args)...);
            } catch (const already_exists_error&) {
                if (attempt >= 1000) throw;  // created and removed again and again meanwhile
            }
        }
    }

    /// Removes segment NAME if it holds `id` (else type_mismatch_error; nothing removed).
    static void remove(std::string_view name, const segment_identity& id) {
        remove_segment(location::shm(name), &id);
    }

    /// The object, in this process.
    Cell* get() const {
        return std::launder(reinterpret_cast<Cell*>(handle_.get(dtype::uint8, &make_view).data));
    }
    const location& where() const noexcept { return handle_.where(); }
    bool empty() const noexcept { return handle_.empty(); }

private:
    explicit object_storage(mapped_segment& s) : handle_(s) {}

    template <class Pack>
    static void construct(std::byte* data, const void* arg) {
        Pack& pack = *static_cast<Pack*>(const_cast<void*>(arg));
        std::apply([data](auto&&... a) { new (data) Cell(std::forward<decltype(a)>(a)...); },
                   std::move(pack));
    }

    // Objects have no xtensor view; the factory's identity ties a mapping to Cell.
    static std::shared_ptr<void> make_view(const mapped_segment&) { return {}; }

    segment_handle handle_;
};

}  // namespace shmpool::detail
