#include "shmpool/file_lock.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmpool/process.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using test::run_in_child;
using test::unique_name;
using clock_type = std::chrono::steady_clock;

/// A fresh directory under /tmp, removed with everything in it on scope exit.
struct temp_dir {
    std::string path;
    temp_dir() {
        std::string pattern = "/tmp/" + unique_name("lock") + "_XXXXXX";
        path = ::mkdtemp(pattern.data()) ? pattern : "";
        if (path.empty()) throw std::runtime_error("mkdtemp failed");
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::string message_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

/// A forked child running concurrently with the test, talking over two pipes, one byte at a
/// time. It ends with _exit(body's return value); on scope exit it is killed if still running.
class child_process {
public:
    explicit child_process(const std::function<int(child_process&)>& body) {
        int up[2], down[2];
        if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) std::abort();
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::alarm(20);  // bounded whatever happens to the parent
            ::close(up[0]);
            ::close(down[1]);
            to_other_ = up[1];
            from_other_ = down[0];
            int rc = 100;
            try {
                rc = body(*this);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child threw: %s\n", e.what());
                rc = 101;
            }
            ::_exit(rc);
        }
        ::close(up[1]);
        ::close(down[0]);
        from_other_ = up[0];
        to_other_ = down[1];
    }
    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(from_other_);
        ::close(to_other_);
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    void send(char c) { ASSERT_EQ(::write(to_other_, &c, 1), 1); }
    /// The next byte from the other side, or 0 after `timeout` or at end of file.
    char receive(std::chrono::milliseconds timeout = 10s) {
        pollfd p{from_other_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
        char c = 0;
        return ::read(from_other_, &c, 1) == 1 ? c : 0;
    }
    /// Waits for the child to end: its exit status, 128 + signal, or -1 after `timeout` (it is
    /// then killed).
    int wait(std::chrono::milliseconds timeout = 10s) {
        const exit_status st = reap_child(std::exchange(pid_, -1), timeout);
        return st.timed_out ? -1 : st.shell_code();
    }
    pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    int to_other_ = -1;
    int from_other_ = -1;
};

TEST(file_lock, is_movable_not_copyable) {
    static_assert(std::is_nothrow_move_constructible_v<file_lock>);
    static_assert(std::is_nothrow_move_assignable_v<file_lock>);
    static_assert(!std::is_copy_constructible_v<file_lock>);
    static_assert(!std::is_copy_assignable_v<file_lock>);
    SUCCEED();
}

TEST(file_lock, constructor_creates_the_file_but_does_not_lock) {
    temp_dir dir;
    const std::string path = dir / "a.lock";
    file_lock lock(path);
    EXPECT_TRUE(std::filesystem::is_regular_file(path));
    EXPECT_EQ(lock.path(), path);
    EXPECT_FALSE(lock.owns_lock());
    file_lock other(path);
    EXPECT_TRUE(other.try_lock());
    other.unlock();
}

TEST(file_lock, excludes_python_processes_that_use_fcntl_flock) {
    const std::string python = SHMPOOL_PYTHON;
    ASSERT_FALSE(python.empty()) << "no python3 found at configure time";
    temp_dir dir;
    const std::string path = dir / "py.lock";
    file_lock lock(path);
    lock.lock();
    // Python's filelock package and fcntl.flock take the same lock: Python must find it held.
    const std::string script = "import fcntl, sys\nf = open(sys.argv[1], 'a')\ntry:\n"
                               "    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                               "    sys.exit(1)\nexcept BlockingIOError:\n    sys.exit(0)\n";
    const std::string file = dir / "probe.py";
    std::ofstream(file) << script;
    EXPECT_EQ(test::run_command(python + " " + file + " " + path), 0)
        << "Python took a lock this file_lock holds";
    lock.unlock();
    EXPECT_EQ(test::run_command(python + " " + file + " " + path), 1)
        << "Python could not take the lock once released";
}

TEST(file_lock, two_objects_in_one_process_exclude_each_other) {
    temp_dir dir;
    file_lock a(dir / "a.lock");
    file_lock b(dir / "a.lock");
    a.lock();
    EXPECT_TRUE(a.owns_lock());
    EXPECT_FALSE(b.try_lock());
    EXPECT_FALSE(b.try_lock_for(20ms));
    EXPECT_FALSE(b.owns_lock());
    a.unlock();
    EXPECT_FALSE(a.owns_lock());
    EXPECT_TRUE(b.try_lock());
    EXPECT_FALSE(a.try_lock());
    b.unlock();
    EXPECT_TRUE(a.try_lock_for(0ms));
    a.unlock();
    EXPECT_TRUE(std::filesystem::exists(dir / "a.lock")) << "unlock never removes the file";
}

TEST(file_lock, misuse_throws_instead_of_deadlocking) {
    temp_dir dir;
    file_lock lock(dir / "a.lock");
    EXPECT_TRUE(contains(message_of([&] { lock.unlock(); }), "not locked by this file_lock"));
    lock.lock();
    const std::string again = message_of([&] { lock.lock(); });
    EXPECT_TRUE(contains(again, "already locked by this file_lock")) << again;
    EXPECT_TRUE(contains(again, dir / "a.lock")) << again;
    EXPECT_THROW(lock.try_lock(), error);
    EXPECT_THROW(lock.try_lock_for(1ms), error);
    EXPECT_TRUE(lock.owns_lock()) << "a refused call leaves the lock held";
    lock.unlock();
    EXPECT_THROW(file_lock(""), invalid_argument_error);
}

TEST(file_lock, works_with_lock_guard_unique_lock_and_scoped_lock) {
    temp_dir dir;
    file_lock a(dir / "a.lock");
    file_lock b(dir / "a.lock");
    {
        std::lock_guard guard(a);
        EXPECT_TRUE(a.owns_lock());
        std::unique_lock timed(b, 50ms);
        EXPECT_FALSE(timed.owns_lock());
        std::unique_lock until(b, clock_type::now() + 20ms);
        EXPECT_FALSE(until.owns_lock());
        std::unique_lock on_system_clock(b, std::chrono::system_clock::now() + 20ms);
        EXPECT_FALSE(on_system_clock.owns_lock());
        std::unique_lock tried(b, std::try_to_lock);
        EXPECT_FALSE(tried.owns_lock());
    }
    EXPECT_FALSE(a.owns_lock());
    {
        std::unique_lock timed(b, 1s);
        EXPECT_TRUE(timed.owns_lock());
        EXPECT_FALSE(a.try_lock());
    }
    {
        std::scoped_lock both(a);
        EXPECT_TRUE(a.owns_lock());
    }
    EXPECT_TRUE(b.try_lock_until(clock_type::now() + 1s));
    b.unlock();
    EXPECT_TRUE(b.try_lock_for(std::chrono::hours::max())) << "no overflow on huge timeouts";
    b.unlock();
}

TEST(file_lock, threads_with_their_own_objects_exclude_each_other) {
    temp_dir dir;
    const std::string path = dir / "threads.lock";
    long counter = 0;
    auto work = [&] {
        file_lock lock(path);
        for (int i = 0; i < 500; ++i) {
            std::lock_guard guard(lock);
            const long seen = counter;
            std::this_thread::yield();
            counter = seen + 1;
        }
    };
    std::thread t1(work), t2(work);
    t1.join();
    t2.join();
    EXPECT_EQ(counter, 1000);
}

TEST(file_lock, move_carries_the_lock_and_empties_the_source) {
    temp_dir dir;
    file_lock a(dir / "a.lock");
    a.lock();
    file_lock b(std::move(a));
    EXPECT_TRUE(b.owns_lock());
    EXPECT_FALSE(a.owns_lock());  // NOLINT(bugprone-use-after-move): tested on purpose
    EXPECT_TRUE(a.path().empty());
    EXPECT_TRUE(contains(message_of([&] { a.lock(); }), "empty"));
    file_lock c(dir / "c.lock");
    c.lock();
    c = std::move(b);  // releases c.lock, takes over a.lock
    EXPECT_TRUE(c.owns_lock());
    EXPECT_EQ(c.path(), dir / "a.lock");
    file_lock probe_a(dir / "a.lock");
    file_lock probe_c(dir / "c.lock");
    EXPECT_FALSE(probe_a.try_lock());
    EXPECT_TRUE(probe_c.try_lock()) << "move assignment released the lock it replaced";
    probe_c.unlock();
}

TEST(file_lock, destructor_releases_the_lock) {
    temp_dir dir;
    file_lock other(dir / "a.lock");
    {
        file_lock lock(dir / "a.lock");
        lock.lock();
        EXPECT_FALSE(other.try_lock());
    }
    EXPECT_TRUE(other.try_lock());
    other.unlock();
}

TEST(file_lock, excludes_another_process_and_times_out) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    file_lock mine(path);
    child_process child([&](child_process& self) {
        file_lock lock(path);
        lock.lock();
        self.send('L');
        if (self.receive() != 'U') return 1;
        lock.unlock();
        self.send('u');
        return 0;
    });
    ASSERT_EQ(child.receive(), 'L');
    EXPECT_FALSE(mine.try_lock());
    const auto start = clock_type::now();
    EXPECT_FALSE(mine.try_lock_for(100ms));
    const auto waited = clock_type::now() - start;
    EXPECT_GE(waited, 90ms);
    EXPECT_LT(waited, 5s);
    child.send('U');
    ASSERT_EQ(child.receive(), 'u');
    EXPECT_TRUE(mine.try_lock_for(2s));
    EXPECT_EQ(child.wait(), 0);
    mine.unlock();
}

TEST(file_lock, blocked_lock_returns_when_the_holder_unlocks) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    file_lock mine(path);
    mine.lock();
    child_process child([&](child_process& self) {
        file_lock lock(path);
        self.send('W');
        lock.lock();  // blocks until the parent unlocks
        self.send('L');
        return 0;
    });
    ASSERT_EQ(child.receive(), 'W');
    EXPECT_EQ(child.receive(100ms), 0) << "the child got the lock the parent holds";
    mine.unlock();
    EXPECT_EQ(child.receive(), 'L');
    EXPECT_EQ(child.wait(), 0);
}

TEST(file_lock, a_holder_killed_with_sigkill_releases_the_lock) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    child_process child([&](child_process& self) {
        file_lock lock(path);
        lock.lock();
        self.send('L');
        ::raise(SIGKILL);
        return 1;
    });
    ASSERT_EQ(child.receive(), 'L');
    EXPECT_EQ(child.wait(), 128 + SIGKILL);
    file_lock mine(path);
    EXPECT_TRUE(mine.try_lock_for(2s));
    mine.unlock();
}

TEST(file_lock, a_blocked_waiter_gets_the_lock_when_the_holder_is_killed) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    child_process holder([&](child_process& self) {
        file_lock lock(path);
        lock.lock();
        self.send('L');
        self.receive(20s);  // until killed
        return 0;
    });
    ASSERT_EQ(holder.receive(), 'L');
    child_process waiter([&](child_process& self) {
        file_lock lock(path);
        self.send('W');
        lock.lock();  // blocks until the kernel releases the dead holder's lock
        self.send('L');
        return 0;
    });
    ASSERT_EQ(waiter.receive(), 'W');
    EXPECT_EQ(waiter.receive(50ms), 0) << "the waiter got a lock the holder still has";
    ::kill(holder.pid(), SIGKILL);
    EXPECT_EQ(holder.wait(), 128 + SIGKILL);
    EXPECT_EQ(waiter.receive(5s), 'L');
    EXPECT_EQ(waiter.wait(), 0);
}

int read_count(const std::string& path) {
    std::ifstream in(path);
    int n = 0;
    in >> n;
    return n;
}

TEST(file_lock, four_processes_count_to_4000_in_a_file) {
    temp_dir dir;
    const std::string counter = dir / "counter.txt";
    const std::string lock_path = dir / "counter.lock";
    std::ofstream(counter) << 0;
    auto increment_1000_times = [&](child_process&) {
        file_lock lock(lock_path);
        for (int i = 0; i < 1000; ++i) {
            std::lock_guard guard(lock);
            const int n = read_count(counter);
            std::ofstream(counter, std::ios::trunc) << n + 1;
        }
        return 0;
    };
    std::vector<std::unique_ptr<child_process>> children;
    for (int k = 0; k < 4; ++k)
        children.push_back(std::make_unique<child_process>(increment_1000_times));
    for (auto& child : children) EXPECT_EQ(child->wait(30s), 0);
    EXPECT_EQ(read_count(counter), 4000);
}

mode_t mode_of(const std::string& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

TEST(file_lock, creates_the_file_with_mode_0600_whatever_the_umask) {
    temp_dir dir;
    for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
        const std::string path = dir / (std::to_string(mask) + ".lock");
        const mode_t old = ::umask(mask);
        file_lock lock(path);
        ::umask(old);
        EXPECT_EQ(mode_of(path), 0600u) << "umask " << std::oct << mask;
        EXPECT_TRUE(lock.try_lock());
        lock.unlock();
    }
}

TEST(file_lock, leaves_an_existing_files_mode_and_contents_alone) {
    temp_dir dir;
    const std::string path = dir / "kept.lock";
    std::ofstream(path) << "pid 42";
    ::chmod(path.c_str(), 0644);
    {
        file_lock lock(path);
        lock.lock();
        lock.unlock();
    }
    EXPECT_EQ(mode_of(path), 0644u);
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(text, "pid 42");
}

TEST(file_lock, refuses_to_follow_a_symlink) {
    temp_dir dir;
    const std::string target = dir / "target.txt";
    const std::string link = dir / "link.lock";
    std::ofstream(target) << "precious";
    ::chmod(target.c_str(), 0644);
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
    const std::string what = message_of([&] { file_lock lock(link); });
    EXPECT_TRUE(contains(what, link)) << what;
    EXPECT_TRUE(contains(what, "refuses to follow symlinks")) << what;
    EXPECT_THROW(file_lock{link}, error);
    EXPECT_EQ(mode_of(target), 0644u);
    std::ifstream in(target);
    std::string text;
    std::getline(in, text);
    EXPECT_EQ(text, "precious");

    const std::string dangling = dir / "dangling.lock";
    ASSERT_EQ(::symlink((dir / "nowhere").c_str(), dangling.c_str()), 0);
    EXPECT_THROW(file_lock{dangling}, error);
    EXPECT_FALSE(std::filesystem::exists(dir / "nowhere")) << "the link's target was created";
}

TEST(file_lock, missing_directory_is_not_found_and_named) {
    temp_dir dir;
    const std::string missing = dir / "missing";
    const std::string path = missing + "/x.lock";
    try {
        file_lock lock(path);
        ADD_FAILURE() << "no exception";
    } catch (const not_found_error& e) {
        const std::string what = e.what();
        EXPECT_TRUE(contains(what, "cannot create lock file " + path)) << what;
        EXPECT_TRUE(contains(what, "directory " + missing + " does not exist")) << what;
    }
    EXPECT_FALSE(std::filesystem::exists(missing));
}

/// Expects `path` to be refused with a system_error whose message names it.
void expect_cannot_create(const std::string& path, std::initializer_list<int> codes) {
    try {
        file_lock lock(path);
        ADD_FAILURE() << "created " << path;
        ::unlink(path.c_str());
    } catch (const system_error& e) {
        const std::string what = e.what();
        EXPECT_TRUE(contains(what, path)) << what;
        EXPECT_NE(std::find(codes.begin(), codes.end(), e.code().value()), codes.end()) << what;
        EXPECT_FALSE(contains(what, "does not exist")) << what;
    }
}

TEST(file_lock, unwritable_directory_is_a_system_error_naming_the_path) {
    // Tests run as root, which ignores permission bits: use directories that refuse new files to
    // root too. sysfs refuses with EACCES (EROFS where mounted read-only), procfs with ENOENT.
    if (std::filesystem::is_directory("/sys/kernel"))
        expect_cannot_create("/sys/" + unique_name("x") + ".lock", {EACCES, EROFS, EPERM});
    if (std::filesystem::is_directory("/proc/self"))
        expect_cannot_create("/proc/" + unique_name("x") + ".lock", {ENOENT, EACCES, EROFS});
    if (::geteuid() != 0) {
        temp_dir dir;
        const std::string locked_dir = dir / "ro";
        ASSERT_EQ(::mkdir(locked_dir.c_str(), 0555), 0);
        expect_cannot_create(locked_dir + "/x.lock", {EACCES});
    }
}

TEST(file_lock, directory_as_path_is_refused) {
    temp_dir dir;
    const std::string what = message_of([&] { file_lock lock(dir.path); });
    EXPECT_TRUE(contains(what, dir.path)) << what;
    EXPECT_TRUE(contains(what, "is a directory")) << what;
    EXPECT_THROW(file_lock{dir.path}, invalid_argument_error);
    EXPECT_THROW(file_lock{dir.path + "/"}, invalid_argument_error);
}

TEST(file_lock, other_file_types_are_refused) {
    temp_dir dir;
    const std::string fifo = dir / "fifo.lock";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_THROW(file_lock{fifo}, invalid_argument_error);
}

TEST(file_lock, refuses_use_in_a_forked_child_and_the_parents_lock_survives_it) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    file_lock lock(path);
    lock.lock();
    const int rc = run_in_child(
        [&] {
            if (lock.owns_lock()) return 1;
            const std::string what = message_of([&] { lock.unlock(); });
            if (!contains(what, "construct a new file_lock in the child")) return 2;
            if (message_of([&] { lock.try_lock(); }) == "(nothing thrown)") return 3;
            if (message_of([&] { lock.lock(); }) == "(nothing thrown)") return 4;
            if (file_lock(path).try_lock()) return 5;  // a new object in the child is excluded
            {
                file_lock inherited = std::move(lock);  // destroyed here: closes, does not unlock
            }
            return 0;
        },
        10s);
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(lock.owns_lock());
    file_lock other(path);
    EXPECT_FALSE(other.try_lock()) << "the child's closing its copy released the parent's lock";
    EXPECT_EQ(run_in_child([&] { return file_lock(path).try_lock() ? 1 : 0; }, 10s), 0);
    lock.unlock();
    EXPECT_TRUE(other.try_lock());
    other.unlock();
}

TEST(file_lock, unlock_releases_even_while_a_forked_child_keeps_the_descriptor) {
    temp_dir dir;
    const std::string path = dir / "x.lock";
    auto lock = std::make_unique<file_lock>(path);
    lock->lock();
    child_process child([&](child_process& self) {
        self.send('R');
        self.receive(20s);  // keeps the inherited descriptor open until told to end
        return 0;
    });
    ASSERT_EQ(child.receive(), 'R');
    file_lock other(path);
    lock.reset();  // the destructor unlocks explicitly; closing alone would not release it
    EXPECT_TRUE(other.try_lock());
    other.unlock();
    child.send('E');
    EXPECT_EQ(child.wait(), 0);
}

TEST(file_lock, a_forked_child_keeps_a_dead_holders_lock_until_it_exits) {
    // Documented caveat: the lock belongs to the open file, which a forked child shares.
    temp_dir dir;
    const std::string path = dir / "x.lock";
    int release[2];
    ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
    child_process holder([&](child_process& self) {
        file_lock lock(path);
        lock.lock();
        child_process grandchild([&](child_process& me) {
            me.send('G');
            char c;
            return ::read(release[0], &c, 1) == 1 ? 0 : 1;  // until the test says so
        });
        if (grandchild.receive() != 'G') return 1;
        self.send('L');
        self.receive(20s);  // until killed
        return 0;
    });
    ASSERT_EQ(holder.receive(), 'L');
    ::kill(holder.pid(), SIGKILL);
    EXPECT_EQ(holder.wait(), 128 + SIGKILL);
    file_lock mine(path);
    EXPECT_FALSE(mine.try_lock_for(100ms)) << "the grandchild's inherited descriptor holds it";
    ASSERT_EQ(::write(release[1], "x", 1), 1);
    EXPECT_TRUE(mine.try_lock_for(5s)) << "released when the grandchild exited";
    ::close(release[0]);
    ::close(release[1]);
}

}  // namespace
}  // namespace shmpool
