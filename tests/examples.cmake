# The seed's concurrency examples in C (issue 10): output and timing shape.
if(TARGET ex59_gather)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_test(NAME test_examples COMMAND ${Python3_EXECUTABLE}
    ${CMAKE_CURRENT_SOURCE_DIR}/test_examples.py ${PROJECT_BINARY_DIR}/examples)
  set_tests_properties(test_examples PROPERTIES TIMEOUT 120 LABELS integration)
endif()
