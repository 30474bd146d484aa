// shared_array segments are .npy files: numpy maps what shmpool made, shmpool maps what numpy
// saved, and both see each other's writes. Runs Debian's python3 with numpy.
#include <gtest/gtest.h>

#include <complex>
#include <filesystem>
#include <fstream>

#include "shmpool/shared_array.hpp"
#include "test_support.hpp"

namespace shmpool {
namespace {

using test::shm_guard;
using test::unique_name;

// Runs a Python snippet with numpy imported as np; argv[1] is `arg`. Returns its exit status.
int python(const std::string& code, const std::string& arg, std::string* out = nullptr) {
    const std::string interpreter = SHMPOOL_PYTHON;
    if (interpreter.empty()) {
        ADD_FAILURE() << "no python3 with numpy was found at configure time; run "
                         "scripts/install-deps.sh (python3-numpy) and configure again";
        return -1;
    }
    const std::string script = "/tmp/" + unique_name("interop") + ".py";
    test::unlink_guard guard(script);
    std::ofstream(script) << "import sys\nimport numpy as np\n" << code << "\n";
    return test::run_command(interpreter + " " + script + " " + arg + " 2>&1", out);
}

TEST(numpy_interop, numpy_maps_a_shmpool_array_and_both_see_writes) {
    const std::string name = unique_name("to_numpy");
    shm_guard guard(name);
    auto grid = shared_array<double>::create(name, {3, 4});
    grid.view().fill(42.0);
    grid.view()(1, 2) = 7.0;
    std::string out;
    const int rc = python(R"(
a = np.load('/dev/shm/' + sys.argv[1], mmap_mode='r+')
assert a.shape == (3, 4), a.shape
assert a.dtype == np.float64, a.dtype
assert a[1, 2] == 7.0 and a[0, 0] == 42.0, a
a[2, 3] = -1.0
a.flush()
)",
                          name, &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_EQ(grid.view()(2, 3), -1.0) << "numpy's write is seen through the same pages";
    shared_array<double>::remove(name);
}

TEST(numpy_interop, numpy_reads_every_dtype_shmpool_writes) {
    const std::string i32 = unique_name("i32"), b = unique_name("bool"), c = unique_name("c16");
    const std::string u8 = unique_name("u8");
    shm_guard g1(i32), g2(b), g3(c), g4(u8);
    auto a = shared_array<std::int32_t>::create(i32, {2, 2, 2});
    auto flags = shared_array<bool>::create(b, {5});
    auto z = shared_array<std::complex<double>>::create(c, {2});
    auto bytes = shared_array<std::uint8_t>::create(u8, {7});
    a.view()(1, 1, 1) = -5;
    flags.view()(3) = true;
    z.view()(1) = {1.0, 2.0};
    bytes.view()(6) = 255;
    std::string out;
    const int rc = python(R"(
names = sys.argv[1].split(',')
a = np.load('/dev/shm/' + names[0], mmap_mode='r')
assert a.dtype == np.int32 and a.shape == (2, 2, 2) and a[1, 1, 1] == -5
f = np.load('/dev/shm/' + names[1], mmap_mode='r')
assert f.dtype == np.bool_ and f.tolist() == [False, False, False, True, False], f
z = np.load('/dev/shm/' + names[2], mmap_mode='r')
assert z.dtype == np.complex128 and z[1] == 1 + 2j, z
u = np.load('/dev/shm/' + names[3])
assert u.dtype == np.uint8 and u[6] == 255, u
)",
                          i32 + "," + b + "," + c + "," + u8, &out);
    EXPECT_EQ(rc, 0) << out;
    for (const auto& n : {i32, b, c, u8}) ::unlink(("/dev/shm/" + n).c_str());
}

TEST(numpy_interop, shmpool_opens_what_numpy_saved_and_numpy_sees_the_change) {
    for (const std::string version : {"(1, 0)", "(2, 0)"}) {
        const std::string name = unique_name("from_numpy");
        shm_guard guard(name);
        std::string out;
        ASSERT_EQ(python("m = np.lib.format.open_memmap('/dev/shm/' + sys.argv[1], mode='w+', "
                         "dtype=np.int32, shape=(3, 4), version=" + version + ")\n"
                         "m[:] = np.arange(12, dtype=np.int32).reshape(3, 4)\nm.flush()",
                         name, &out),
                  0)
            << out;
        {
            auto a = shared_array<std::int32_t>::open(name);
            EXPECT_EQ(a.shape(), (std::vector<std::size_t>{3, 4}));
            EXPECT_EQ(a.view()(2, 3), 11);
            a.view()(0, 0) = 100;
        }
        EXPECT_EQ(python("a = np.load('/dev/shm/' + sys.argv[1])\nassert a[0, 0] == 100, a", name,
                         &out),
                  0)
            << out;
        shared_array<std::int32_t>::remove(name);
    }
}

TEST(numpy_interop, numpy_files_that_do_not_fit_are_refused_clearly) {
    const std::string fortran = unique_name("fortran"), big = unique_name("big");
    const std::string f8 = unique_name("f8");
    shm_guard g1(fortran), g2(big), g3(f8);
    std::string out;
    ASSERT_EQ(python(R"(
n = sys.argv[1].split(',')
np.save('/dev/shm/' + n[0], np.asfortranarray(np.zeros((3, 4))), allow_pickle=False)
np.save('/dev/shm/' + n[1], np.zeros(4, dtype='>f8'), allow_pickle=False)
np.save('/dev/shm/' + n[2], np.zeros(4), allow_pickle=False)
import os
for x in n: os.rename('/dev/shm/' + x + '.npy', '/dev/shm/' + x)
)",
                     fortran + "," + big + "," + f8, &out),
              0)
        << out;
    const auto message = [](auto open) {
        try {
            open();
        } catch (const error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message([&] { shared_array<double>::open(fortran); }).find("Fortran"),
              std::string::npos);
    EXPECT_NE(message([&] { shared_array<double>::open(big); }).find("big-endian"),
              std::string::npos);
    EXPECT_THROW(shared_array<double>::open(fortran), format_error);
    EXPECT_THROW(shared_array<float>::open(f8), type_mismatch_error);
    EXPECT_EQ(shared_array<double>::open(f8).size(), 4u);
}

TEST(numpy_interop, numpy_loads_a_file_backed_array) {
    const std::string path = std::filesystem::temp_directory_path() / (unique_name("file") + ".npy");
    test::unlink_guard guard(path);
    auto a = shared_array<float>::create(file_path{path}, {2, 3});
    a.view()(1, 2) = 0.5f;
    std::string out;
    EXPECT_EQ(python("a = np.load(sys.argv[1])\nassert a.dtype == np.float32 and a[1, 2] == 0.5, a",
                     path, &out),
              0)
        << out;
    shared_array<float>::remove(file_path{path});
}

}  // namespace
}  // namespace shmpool
