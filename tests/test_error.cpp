#include "shmpool/error.hpp"

#include <gtest/gtest.h>

#include <type_traits>

#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

TEST(error, every_error_is_a_shmpool_error_and_a_runtime_error) {
    static_assert(std::is_base_of_v<std::runtime_error, error>);
    static_assert(std::is_base_of_v<error, not_found_error>);
    static_assert(std::is_base_of_v<error, already_exists_error>);
    static_assert(std::is_base_of_v<error, invalid_argument_error>);
    static_assert(std::is_base_of_v<error, type_mismatch_error>);
    static_assert(std::is_base_of_v<error, format_error>);
    static_assert(std::is_base_of_v<error, no_space_error>);
    static_assert(std::is_base_of_v<error, system_error>);
    SUCCEED();
}

TEST(error, system_error_carries_the_errno_and_names_the_call) {
    const system_error e(std::error_code(EACCES, std::generic_category()), "cannot open /x");
    EXPECT_EQ(e.code().value(), EACCES);
    EXPECT_EQ(std::string(e.what()), "cannot open /x: Permission denied");
}

TEST(error, no_space_error_reports_needed_and_free_bytes) {
    const no_space_error e("full", 100, 10);
    EXPECT_EQ(e.needed_bytes(), 100u);
    EXPECT_EQ(e.free_bytes(), 10u);
    EXPECT_STREQ(e.what(), "full");
}

TEST(error, library_failures_are_caught_as_the_base_class) {
    try {
        shared_array<double>::open(test::unique_name("absent"));
        FAIL() << "no exception";
    } catch (const error& e) {
        EXPECT_NE(dynamic_cast<const not_found_error*>(&e), nullptr);
    }
}

}  // namespace
}  // namespace shmpool
