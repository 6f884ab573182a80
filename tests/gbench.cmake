# conlab-gbench exists only when CMake found Google Benchmark (gbench/).
if(TARGET conlab-gbench)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  # libgomp is not built with ThreadSanitizer: its barriers look like races.
  set(_cl_gbench_skip)
  if(CL_SANITIZER MATCHES "thread")
    set(_cl_gbench_skip --skip-executor openmp)
  endif()
  add_test(NAME test_gbench COMMAND ${Python3_EXECUTABLE}
    ${CMAKE_CURRENT_SOURCE_DIR}/test_gbench.py $<TARGET_FILE:conlab-gbench> $<TARGET_FILE:conlab>
    ${PROJECT_SOURCE_DIR}/gbench/gbench_to_csv.py ${_cl_gbench_skip})
  set_tests_properties(test_gbench PROPERTIES TIMEOUT 300 LABELS integration)
endif()
