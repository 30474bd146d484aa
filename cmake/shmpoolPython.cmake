# SHMPOOL_PYTHON: a python3 that imports numpy (the NumPy interop tests) and matplotlib (the
# benchmark report's charts). FindPython3 chooses first; when its interpreter lacks numpy (a pyenv
# or virtualenv python3 ahead of the system's on PATH), the other python3 programs on PATH are
# tried in order. -DSHMPOOL_PYTHON=/path/to/python3 overrides. Empty when none is found: the
# interop tests then skip, saying why.
if(DEFINED SHMPOOL_PYTHON)
    return()
endif()

function(shmpool_python_has_modules python result)
    execute_process(COMMAND "${python}" -c "import numpy, matplotlib"
        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
        set(${result} TRUE PARENT_SCOPE)
    else()
        set(${result} FALSE PARENT_SCOPE)
    endif()
endfunction()

find_package(Python3 COMPONENTS Interpreter)
set(candidates)
if(Python3_Interpreter_FOUND)
    list(APPEND candidates "${Python3_EXECUTABLE}")
endif()
string(REPLACE ":" ";" path_dirs "$ENV{PATH}")
foreach(dir IN LISTS path_dirs)
    if(EXISTS "${dir}/python3" AND NOT IS_DIRECTORY "${dir}/python3")
        list(APPEND candidates "${dir}/python3")
    endif()
endforeach()
list(REMOVE_DUPLICATES candidates)

set(found "")
foreach(python IN LISTS candidates)
    shmpool_python_has_modules("${python}" ok)
    if(ok)
        set(found "${python}")
        break()
    endif()
endforeach()
if(NOT found)
    message(WARNING "No python3 with numpy and matplotlib found (tried: ${candidates}); the "
                    "NumPy interop tests skip and the benchmark report cannot run. "
                    "scripts/install-deps.sh installs them.")
endif()
set(SHMPOOL_PYTHON "${found}" CACHE FILEPATH "python3 with numpy and matplotlib (tests, bench report)")
message(STATUS "shmpool: SHMPOOL_PYTHON=${SHMPOOL_PYTHON}")
