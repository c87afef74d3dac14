# migtest_set_warnings(target): the project's warning set; -Werror when MIGTEST_WERROR is on (CI).
function(migtest_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
    $<$<BOOL:${MIGTEST_WERROR}>:-Werror>)
endfunction()
