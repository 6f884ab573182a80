find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME cli_bad_input COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_bad_input.sh
  $<TARGET_FILE:conlab>)
set_tests_properties(cli_bad_input PROPERTIES TIMEOUT 60 LABELS integration)
add_test(NAME e2e_quick COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/e2e_quick.py
  $<TARGET_FILE:conlab>)
set_tests_properties(e2e_quick PROPERTIES TIMEOUT 240 LABELS integration)
