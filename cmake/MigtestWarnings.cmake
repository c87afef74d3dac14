# migtest_set_warnings(target): the project's warning set; -Werror when MIGTEST_WERROR is on (CI).
# No -Wnull-dereference: with g++ 12 it fires inside libstdc++ code inlined from CLI11 headers.
function(migtest_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    $<$<BOOL:${MIGTEST_WERROR}>:-Werror>)
endfunction()
