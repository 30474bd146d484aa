# Compiler settings for shmpool's own targets (never applied globally).
#
#   shmpool_target_warnings(<target>)  warnings (+ -Werror if SHMPOOL_WARNINGS_AS_ERRORS)
#   shmpool_target_defaults(<target>)  warnings + SHMPOOL_SANITIZE + no compiler extensions

function(shmpool_target_warnings target)
    set(gcc_like "$<CXX_COMPILER_ID:GNU,Clang,AppleClang>")
    target_compile_options(${target} PRIVATE
        $<${gcc_like}:-Wall -Wextra -Wpedantic -Wshadow>
        $<$<AND:${gcc_like},$<BOOL:${SHMPOOL_WARNINGS_AS_ERRORS}>>:-Werror>)
endfunction()

function(shmpool_target_defaults target)
    shmpool_target_warnings(${target})
    set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
    if(SHMPOOL_SANITIZE)
        set(flags -fsanitize=${SHMPOOL_SANITIZE} -fno-omit-frame-pointer)
        if(SHMPOOL_SANITIZE MATCHES "undefined")
            list(APPEND flags -fno-sanitize-recover=undefined)
        endif()
        target_compile_options(${target} PRIVATE ${flags})
        target_link_options(${target} PRIVATE ${flags})
    endif()
endfunction()
