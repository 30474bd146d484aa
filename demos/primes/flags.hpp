// demos/primes: the shared "factor found" flags. Each is a small, trivially copyable struct
// carried into the workers inside the task. A task calls bind() once, which finds the shared
// memory in the worker, and then polls the result's stopped() in its loop; the finder calls
// raise(), the parent reset() before each search.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>
#include <shmpool/event.hpp>
#include <shmpool/process_pool.hpp>
#include <shmpool/shared_array.hpp>
#include <shmpool/value.hpp>

namespace primes {

struct no_flag {
    const no_flag& bind() const { return *this; }
    bool stopped() const { return false; }
    void raise() const {}
    void reset() const {}
};

/// A shmpool::value<bool>: every poll is a load() that takes its lock (Python's Value with its
/// Lock).
struct value_flag {
    shmpool::value<bool> v;
    const value_flag& bind() const { return *this; }
    bool stopped() const { return v.load(); }
    void raise() const { v.store(true); }
    void reset() const { v.store(false); }
};

/// A relaxed atomic load of a byte, once its address in this process is known.
struct byte_poller {
    std::uint8_t* byte;
    bool stopped() const {
        return std::atomic_ref<std::uint8_t>(*byte).load(std::memory_order_relaxed) != 0;
    }
};

/// A shmpool::raw_value<uint8_t>, no lock (Python's RawValue).
struct raw_flag {
    shmpool::raw_value<std::uint8_t> v;
    byte_poller bind() const { return {v.data()}; }
    void raise() const { v.store(1); }
    void reset() const { v.store(0); }
};

/// One byte of a file-backed .npy mapping (the book's mmap'ed file).
struct file_flag {
    shmpool::shared_array<std::uint8_t> a;
    byte_poller bind() const { return {a.data()}; }
    void raise() const { std::atomic_ref<std::uint8_t>(*a.data()).store(1); }
    void reset() const { std::atomic_ref<std::uint8_t>(*a.data()).store(0); }
};

/// A shmpool::event constructed in a small shared array.
struct event_flag {
    shmpool::shared_array<std::uint8_t> a;
    shmpool::event& ev() const {
        return *std::launder(reinterpret_cast<shmpool::event*>(a.data()));
    }
    struct poller {
        const shmpool::event* ev;
        bool stopped() const { return ev->is_set(); }
    };
    poller bind() const { return {&ev()}; }
    void raise() const { ev().set(); }
    void reset() const { ev().clear(); }
};

/// The pool's own cancellation: the finder cancels the call, the others poll call_cancelled().
struct cancel_flag {
    const cancel_flag& bind() const { return *this; }
    bool stopped() const { return shmpool::call_cancelled(); }
    void raise() const { shmpool::cancel_call(); }
    void reset() const {}
};

}  // namespace primes
