// The progress line (shmpool::progress): drawn on stderr after half a second, in GB for
// creations, never when asked not to; and the progress that populating a new array reports.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "os.hpp"
#include "progress_line.hpp"
#include "shmpool/progress.hpp"
#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using namespace std::chrono_literals;
using detail::progress_line;
using test::shm_guard;
using test::unique_name;

// What `body` writes to stderr (fd 2 sent to a file meanwhile).
template <class F>
std::string stderr_of(F body) {
    const std::string path = "/tmp/" + unique_name("stderr");
    test::unlink_guard guard(path);
    std::fflush(stderr);
    const int saved = ::dup(2);
    const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(file, 2);
    ::close(file);
    body();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::ostringstream text;
    text << std::ifstream(path).rdbuf();
    return text.str();
}

TEST(progress, a_line_appears_after_half_a_second_with_percent_rate_and_eta) {
    const std::string out = stderr_of([] {
        progress_line line(progress::always, 1000, "copying: ");
        line.update(100);  // too early: nothing
        std::this_thread::sleep_for(600ms);
        line.update(500);
    });
    EXPECT_EQ(out.find("100/1000"), std::string::npos) << out;
    EXPECT_NE(out.find("[shmpool] copying: 500/1000 ( 50.0%)"), std::string::npos) << out;
    EXPECT_NE(out.find("ETA"), std::string::npos) << out;
    EXPECT_EQ(out.back(), '\n') << "the line must end once the work is done";
}

TEST(progress, byte_counts_are_shown_in_gigabytes) {
    const std::string out = stderr_of([] {
        progress_line line(progress::always, 4'000'000'000, "creating grid: ", true);
        std::this_thread::sleep_for(600ms);
        line.update(1'000'000'000);
    });
    EXPECT_NE(out.find("creating grid: 1.00/4.00 GB ( 25.0%)"), std::string::npos) << out;
    EXPECT_NE(out.find("GB/s"), std::string::npos) << out;
}

TEST(progress, never_and_automatic_without_a_terminal_draw_nothing) {
    for (progress mode : {progress::never, progress::automatic}) {
        const std::string out = stderr_of([mode] {
            progress_line line(mode, 10);
            std::this_thread::sleep_for(600ms);
            line.update(5);
        });
        EXPECT_EQ(out, "") << static_cast<int>(mode);  // stderr is a file here, not a terminal
    }
}

TEST(progress, populating_reports_every_step_up_to_the_whole_length) {
    const std::string name = unique_name("progress");
    shm_guard guard(name);
    constexpr std::size_t bytes = std::size_t{256} << 20;
    auto a = shared_array<std::uint8_t>::create(name, {bytes}, {.populate = false});
    std::vector<std::size_t> seen;
    ASSERT_EQ(detail::populate_writable(a.data(), bytes,
                                        [&seen](std::size_t done) { seen.push_back(done); }),
              0);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back(), bytes);
    for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_LE(seen[i - 1], seen[i]) << i;
    shared_array<std::uint8_t>::remove(name);
}

}  // namespace
}  // namespace shmpool
