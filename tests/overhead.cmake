# Issue 8: executor overhead (bench/) and the overhead/peers suites.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
if(TARGET cl_micro)
  add_test(NAME test_overhead_suite COMMAND ${Python3_EXECUTABLE}
    ${CMAKE_CURRENT_SOURCE_DIR}/test_overhead_suite.py $<TARGET_FILE:conlab>)
  set_tests_properties(test_overhead_suite PROPERTIES TIMEOUT 300 LABELS integration)
  cl_test(test_micro SOURCES test_micro.c LIBS cl_micro LABELS integration TIMEOUT 120)
endif()
