// Tests of shmpool::shared_object<T>: named objects that unrelated processes create, open and
// open-or-create; the kind and type recorded in the segment and checked by open and remove;
// the open that waits for a name; 8 processes racing on open_or_create; two programs started
// with posix_spawn sharing a named robust_mutex and a value, and a holder's death between them.
#include "shmpool/shared_object.hpp"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "shmpool/barrier.hpp"
#include "shmpool/catalog.hpp"
#include "shmpool/event.hpp"
#include "shmpool/process.hpp"
#include "shmpool/robust_mutex.hpp"
#include "shmpool/semaphore.hpp"
#include "shmpool/shared_array.hpp"
#include "shmpool/shared_rwlock.hpp"
#include "shmpool/value.hpp"
#include "test_support.hpp"

extern char** environ;

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using test::run_in_child;
using test::shm_exists;
using test::shm_guard;
using test::unique_name;

struct config {
    int version;
    double rate;
    std::array<char, 16> label;
};

static_assert(std::is_trivially_copyable_v<shared_object<config>>);
static_assert(std::is_trivially_copyable_v<shared_object<robust_mutex>>);

TEST(shared_object, create_open_and_use_a_plain_struct) {
    const std::string name = unique_name("cfg");
    shm_guard guard(name);
    auto cfg = shared_object<config>::create(name, config{3, 0.5, {'a', 'b'}});
    EXPECT_EQ(cfg->version, 3);
    EXPECT_EQ(cfg.name(), name);
    auto same = shared_object<config>::open(name);
    same->rate = 2.5;
    EXPECT_EQ(cfg->rate, 2.5) << "two handles, one object";
    EXPECT_EQ(run_in_child([&] { return shared_object<config>::open(name)->version == 3 ? 0 : 1; }),
              0);
    EXPECT_THROW(shared_object<config>::create(name, config{}), already_exists_error);
    shared_object<config>::remove(name);
    EXPECT_FALSE(shm_exists(name));
    EXPECT_THROW(shared_object<config>::open(name), not_found_error);
}

TEST(shared_object, every_lock_type_lives_in_one_and_is_built_before_the_name_appears) {
    const std::string m = unique_name("m"), rw = unique_name("rw"), sem = unique_name("sem");
    const std::string bar = unique_name("bar"), ev = unique_name("ev");
    shm_guard g1(m), g2(rw), g3(sem), g4(bar), g5(ev);
    auto mutex = shared_object<robust_mutex>::create(m);
    auto rwlock = shared_object<shared_rwlock>::create(rw);
    auto s = shared_object<semaphore>::create(sem, 2u);
    auto b = shared_object<barrier>::create(bar, 1u);
    auto e = shared_object<event>::create(ev);
    {
        robust_lock held(*mutex);
        EXPECT_TRUE(held.owns_lock());
    }
    rwlock->lock_shared();
    rwlock->unlock_shared();
    EXPECT_TRUE(s->try_acquire());
    EXPECT_TRUE(s->try_acquire());
    EXPECT_FALSE(s->try_acquire()) << "constructed with its count of 2";
    b->arrive_and_wait();
    e->set();
    EXPECT_TRUE(shared_object<event>::open(ev)->is_set());
    for (const std::string& n : {m, rw, sem, bar, ev}) remove_array(n);
}

TEST(shared_object, open_checks_the_kind_and_the_type_and_names_both) {
    const std::string obj = unique_name("obj"), arr = unique_name("arr"), val = unique_name("v");
    shm_guard g1(obj), g2(arr), g3(val);
    shared_object<long>::create(obj, 7L);
    shared_array<double>::create(arr, {4});
    value<long>::create(val, 1);
    try {
        shared_object<int>::open(obj);
        ADD_FAILURE() << "opened an int64 object as int32";
    } catch (const type_mismatch_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("object<int64>"), std::string::npos) << what;
        EXPECT_NE(what.find("object<int32>"), std::string::npos) << what;
    }
    EXPECT_THROW(shared_object<robust_mutex>::open(obj), type_mismatch_error);
    EXPECT_THROW(shared_object<long>::open(arr), type_mismatch_error) << "an array";
    EXPECT_THROW(shared_object<long>::open(val), type_mismatch_error) << "a value, not an object";
    EXPECT_THROW(shared_array<std::uint8_t>::open(obj), type_mismatch_error) << "not an array";
    // A failed typed open leaves nothing behind: the right type opens afterwards.
    EXPECT_EQ(*shared_object<long>::open(obj), 7);
    EXPECT_THROW(value<int>::open(val), type_mismatch_error);
    EXPECT_EQ(value<long>::open(val).load(), 1);
    // remove() refuses what is not its kind, and leaves it in place.
    EXPECT_THROW(shared_object<long>::remove(arr), type_mismatch_error);
    EXPECT_TRUE(shm_exists(arr));
    for (const std::string& n : {obj, arr, val}) remove_array(n);
}

TEST(shared_object, ls_shows_the_kind_the_type_and_a_values_value) {
    const std::string obj = unique_name("lsobj"), val = unique_name("lsval");
    shm_guard g1(obj), g2(val);
    shared_object<robust_mutex>::create(obj);
    value<long>::create(val, 42);
    const array_info o = describe_array(obj), v = describe_array(val);
    EXPECT_EQ(o.kind, "object");
    EXPECT_EQ(o.type, "shmpool::robust_mutex");
    EXPECT_EQ(o.value, "");
    EXPECT_EQ(v.kind, "value");
    EXPECT_EQ(v.type, "int64");
    EXPECT_EQ(v.value, "42");
    remove_array(obj);
    remove_array(val);
}

TEST(shared_object, open_with_a_timeout_waits_for_its_creator) {
    const std::string name = unique_name("late");
    shm_guard guard(name);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(shared_object<int>::open(name, 100ms), not_found_error);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
    std::fflush(nullptr);
    const pid_t producer = ::fork();
    ASSERT_GE(producer, 0);
    if (producer == 0) {
        std::this_thread::sleep_for(200ms);
        shared_object<int>::create({.persistent = true}, name, 5);
        ::_exit(0);
    }
    EXPECT_EQ(*shared_object<int>::open(name, 10s), 5) << "the consumer started first";
    EXPECT_EQ(reap_child(producer, 10s).code, 0);
    shared_object<int>::remove(name);
}

// Eight processes race on open_or_create: one creates (they all read its PID back), and one
// mutex and one counter serve them all.
TEST(shared_object, open_or_create_is_race_free_among_eight_processes) {
    const std::string who = unique_name("who"), lock = unique_name("lock");
    const std::string count = unique_name("count");
    shm_guard g1(who), g2(lock), g3(count);
    std::vector<pid_t> kids;
    for (int k = 0; k < 8; ++k) {
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            test::run_child_body([&] {
                const create_options keep{.persistent = true};
                auto creator = shared_object<pid_t>::open_or_create(keep, who, ::getpid());
                auto m = shared_object<robust_mutex>::open_or_create(keep, lock);
                auto n = shared_object<long>::open_or_create(keep, count, 0L);
                for (int i = 0; i < 1000; ++i) {
                    robust_lock held(*m);
                    ++*n;
                }
                return *creator > 0 ? 0 : 1;
            }, 60);
        }
        kids.push_back(pid);
    }
    for (pid_t pid : kids) EXPECT_EQ(reap_child(pid, 60s).code, 0);
    EXPECT_EQ(*shared_object<long>::open(count), 8000) << "one counter under one lock";
    const pid_t creator = *shared_object<pid_t>::open(who);
    EXPECT_NE(std::find(kids.begin(), kids.end(), creator), kids.end());
    for (const std::string& n : {who, lock, count}) remove_array(n);
}

// --- two unrelated programs -----------------------------------------------------------------

#ifndef SHMPOOL_PEER
#error "compile with -DSHMPOOL_PEER='\"/path/to/shmpool_peer\"'"
#endif

pid_t spawn_peer(std::vector<std::string> args) {
    args.insert(args.begin(), SHMPOOL_PEER);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (::posix_spawn(&pid, SHMPOOL_PEER, nullptr, nullptr, argv.data(), environ) != 0) return -1;
    return pid;
}

TEST(shared_object, two_spawned_programs_share_a_named_lock_and_a_value) {
    const std::string lock = unique_name("plock"), count = unique_name("pcount");
    const std::string val = unique_name("pval");
    shm_guard g1(lock), g2(count), g3(val);
    const pid_t a = spawn_peer({"increment", lock, count, "20000"});
    const pid_t b = spawn_peer({"increment", lock, count, "20000"});
    const pid_t c = spawn_peer({"value-add", val, "5000"});
    const pid_t d = spawn_peer({"value-add", val, "5000"});
    ASSERT_TRUE(a > 0 && b > 0 && c > 0 && d > 0);
    for (pid_t p : {a, b, c, d}) EXPECT_EQ(reap_child(p, 60s).code, 0);
    EXPECT_EQ(*shared_object<long>::open(count), 40000);
    EXPECT_EQ(value<long>::open(val).load(), 10000);
    for (const std::string& n : {lock, count, val}) remove_array(n);
}

TEST(shared_object, a_program_that_dies_holding_the_lock_is_noticed_by_the_next) {
    const std::string lock = unique_name("dlock"), count = unique_name("dcount");
    const std::string ready = "/tmp/" + unique_name("ready");
    shm_guard g1(lock), g2(count);
    test::unlink_guard g3(ready);
    const pid_t holder = spawn_peer({"die-holding", lock, ready});
    ASSERT_GT(holder, 0);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (::access(ready.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    ASSERT_EQ(::access(ready.c_str(), F_OK), 0) << "the holder never took the lock";
    ::kill(holder, SIGKILL);
    EXPECT_EQ(reap_child(holder, 10s).signal, SIGKILL);
    const pid_t next = spawn_peer({"increment", lock, count, "10"});
    EXPECT_EQ(reap_child(next, 30s).code, 3) << "exit 3: it found the owner dead and repaired";
    EXPECT_EQ(*shared_object<long>::open(count), 10);
    for (const std::string& n : {lock, count}) remove_array(n);
}

}  // namespace
}  // namespace shmpool
