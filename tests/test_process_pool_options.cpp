// Tests of shmpool::process_pool's options and arguments: the progress line on stderr
// (call_options::show_progress: always, never, automatic) and pool sizes out of range.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "pool_test_support.hpp"
#include "shmpool/error.hpp"
#include "shmpool/process_pool.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using namespace test;

// --- 11. progress line -------------------------------------------------------------------

std::string stderr_of_a_long_call(progress mode) {
    const std::string path = "/tmp/" + unique_name("stderr") + ".txt";
    test::unlink_guard guard(path);
    const int rc = run_in_child(
        [&path, mode] {
            const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || ::dup2(fd, 2) < 0) return 2;
            ::close(fd);
            process_pool pool(2);
            // ~1.2 s: 240 tasks of 10 ms on 2 workers.
            const call_result r = pool.for_each(0, 240, [](std::size_t) { ::usleep(10'000); },
                                                {.show_progress = mode});
            return r.completed == 240 ? 0 : 3;
        },
        30s);
    EXPECT_EQ(rc, 0);
    return read_file(path);
}

TEST(process_pool, progress_always_draws_a_line_on_stderr) {
    const std::string text = stderr_of_a_long_call(progress::always);
    EXPECT_NE(text.find("[shmpool]"), std::string::npos) << "stderr: " << text;
    EXPECT_NE(text.find("ETA"), std::string::npos) << "stderr: " << text;
    EXPECT_NE(text.find("/240"), std::string::npos) << "stderr: " << text;
}

TEST(process_pool, progress_never_writes_nothing) {
    const std::string text = stderr_of_a_long_call(progress::never);
    EXPECT_EQ(text, "");
}

TEST(process_pool, progress_automatic_is_silent_when_stderr_is_not_a_terminal) {
    const std::string text = stderr_of_a_long_call(progress::automatic);
    EXPECT_EQ(text.find("[shmpool]"), std::string::npos) << "stderr: " << text;
}

// --- 12. bad arguments -------------------------------------------------------------------

TEST(process_pool, rejects_zero_and_more_than_256_workers) {
    EXPECT_THROW(process_pool(0), invalid_argument_error);
    EXPECT_THROW(process_pool(257), invalid_argument_error);
    try {
        process_pool p(257);
    } catch (const invalid_argument_error& e) {
        EXPECT_NE(std::string(e.what()).find("257"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace shmpool
