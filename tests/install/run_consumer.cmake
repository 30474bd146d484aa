# cmake -DBUILD_DIR=... -DCONSUMER_SOURCE_DIR=... [-DCONFIG=...] [-DGENERATOR=...]
#       [-DCXX_COMPILER=...] [-DSANITIZE=...] -P run_consumer.cmake
# Installs the shmpool build tree into BUILD_DIR/install-test, then configures, builds and
# runs tests/install/consumer against it with find_package(shmpool CONFIG REQUIRED).
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS BUILD_DIR CONSUMER_SOURCE_DIR)
    if(NOT ${var})
        message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
    endif()
endforeach()

set(prefix "${BUILD_DIR}/install-test")
set(consumer_build "${BUILD_DIR}/install-test-consumer")
file(REMOVE_RECURSE "${prefix}" "${consumer_build}")

function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "command failed (${rc}): ${ARGV}")
    endif()
endfunction()

set(config_args "")
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args})

set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
if(GENERATOR)
    list(APPEND configure_args -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
    list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(CONFIG)
    list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
if(SANITIZE)  # the installed library is instrumented: the consumer must link the runtimes
    list(APPEND configure_args
        "-DCMAKE_CXX_FLAGS=-fsanitize=${SANITIZE} -fno-omit-frame-pointer"
        "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=${SANITIZE}")
endif()
run("${CMAKE_COMMAND}" ${configure_args})
run("${CMAKE_COMMAND}" --build "${consumer_build}" ${config_args})

find_program(consumer_exe consumer PATHS "${consumer_build}" "${consumer_build}/${CONFIG}"
    NO_DEFAULT_PATH REQUIRED)
run("${consumer_exe}")
message(STATUS "find_package(shmpool) consumer: OK")

# The same program built with pkg-config's flags instead of CMake's package.
find_program(pkg_config NAMES pkg-config pkgconf REQUIRED)
file(GLOB_RECURSE pc_file "${prefix}/*/shmpool.pc")
if(NOT pc_file)
    message(FATAL_ERROR "shmpool.pc was not installed under ${prefix}")
endif()
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
execute_process(COMMAND "${pkg_config}" --cflags --libs shmpool
    OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs shmpool failed (${rc})")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
execute_process(COMMAND "${pkg_config}" --variable=libdir shmpool
    OUTPUT_VARIABLE pc_libdir OUTPUT_STRIP_TRAILING_WHITESPACE)
set(sanitize_flags "")
if(SANITIZE)
    set(sanitize_flags -fsanitize=${SANITIZE} -fno-omit-frame-pointer)
endif()
find_program(cxx NAMES ${CXX_COMPILER} c++ g++ REQUIRED)
set(pc_exe "${consumer_build}/consumer_pkgconfig")
run("${cxx}" ${sanitize_flags} "${CONSUMER_SOURCE_DIR}/main.cpp" -o "${pc_exe}" ${pc_flags}
    "-Wl,-rpath,${pc_libdir}")
run("${pc_exe}")
message(STATUS "pkg-config consumer: OK (${pc_flags})")
