#include "shmpool/segment.hpp"

#include <gtest/gtest.h>

#include <string>

#include "shmpool/detail/segment.hpp"
#include "shmpool/error.hpp"

namespace shmpool {
namespace {

using detail::location;

TEST(segment, create_options_default_to_private_removed_at_exit_and_populated) {
    const create_options opts;
    EXPECT_FALSE(opts.replace_existing);
    EXPECT_FALSE(opts.persistent);
    EXPECT_EQ(opts.mode, 0600u);
    EXPECT_TRUE(opts.populate);
}

TEST(segment, a_shm_name_lives_in_dev_shm_and_keeps_no_leading_slash) {
    const location l = location::shm("/grid");
    EXPECT_EQ(l.text(), "grid");
    EXPECT_FALSE(l.is_file());
    EXPECT_EQ(l.path(), "/dev/shm/grid");
    EXPECT_EQ(l.directory(), "/dev/shm");
    EXPECT_EQ(l.describe(), "array 'grid'");
}

TEST(segment, a_file_path_is_used_as_given) {
    const location l = location::file("/data/x.npy");
    EXPECT_TRUE(l.is_file());
    EXPECT_EQ(l.path(), "/data/x.npy");
    EXPECT_EQ(l.directory(), "/data");
    EXPECT_EQ(location::file("x.npy").directory(), ".");
    EXPECT_EQ(location::file("/x.npy").directory(), "/");
    EXPECT_EQ(l.describe(), "array file '/data/x.npy'");
}

TEST(segment, locations_are_trivially_copyable_and_bounded) {
    static_assert(std::is_trivially_copyable_v<location>);
    EXPECT_NO_THROW(location::file(std::string(detail::max_location_length, 'a')));
    EXPECT_THROW(location::file(std::string(detail::max_location_length + 1, 'a')),
                 invalid_argument_error);
    EXPECT_THROW(location::file(""), invalid_argument_error);
    EXPECT_THROW(location::file("/data/"), invalid_argument_error);
    EXPECT_NO_THROW(location::shm(std::string(255, 'n')));
    EXPECT_THROW(location::shm(std::string(256, 'n')), invalid_argument_error);
}

}  // namespace
}  // namespace shmpool
