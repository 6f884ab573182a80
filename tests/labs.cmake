# The lab sheets (labs/) and `conlab lab` (issue 10): every lab at quick sizes
# with its expectations checked against the data (RUN_SERIAL: the checks time
# CPU-bound speedups, which other tests running beside them would spoil), and
# the sheets: sections, figures, every quoted command parses. Bad `conlab lab`
# command lines are in bad_input.tsv.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
foreach(n 1 2 3 4 5 6 7 8)
  add_test(NAME lab_${n} COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_labs.py
    $<TARGET_FILE:conlab> ${PROJECT_SOURCE_DIR} --lab ${n})
  set_tests_properties(lab_${n} PROPERTIES TIMEOUT 240 LABELS integration RUN_SERIAL TRUE)
endforeach()
add_test(NAME lab_sheets COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_labs.py
  $<TARGET_FILE:conlab> ${PROJECT_SOURCE_DIR} --sheets)
set_tests_properties(lab_sheets PROPERTIES TIMEOUT 180 LABELS integration)
