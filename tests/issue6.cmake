# Issue 6: CPython beside C (the py.* executors) and the GIL story.
# The py.* tests need python3 on PATH at configure time; the "python3 not
# found" path is tested everywhere.
find_program(CL_PYTHON3 python3)
if(CL_PYTHON3)
  cl_test(test_python_exec SOURCES test_python_exec.c LABELS integration TIMEOUT 180)
  add_test(NAME test_python_runner
    COMMAND ${CL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_python_runner.py)
  set_tests_properties(test_python_runner PROPERTIES TIMEOUT 120 LABELS unit)
  add_test(NAME test_python_convoy
    COMMAND ${CL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_python_runner.py --convoy)
  set_tests_properties(test_python_convoy PROPERTIES TIMEOUT 120 LABELS slow)
  cl_test(test_gil_story SOURCES test_gil_story.c LABELS slow TIMEOUT 300)
endif()
cl_test(test_python_missing SOURCES test_python_missing.c LABELS unit TIMEOUT 30)
cl_test(test_gil_story_convoy SOURCES test_gil_story_convoy.c LABELS slow TIMEOUT 120)
# Wakeup latency (struct cl_task wakes/wake_ns) in every C executor.
cl_test(test_wake SOURCES test_wake.c LABELS unit TIMEOUT 60)
# `conlab run` reports the convoy probe's wakeup latency (summary.csv
# wake_mean_ms/wake_max_ms, samples.csv, run.json) and the py.* rows'
# interpreter start-up and runtime (startup_s, run.json "interpreter").
if(CL_PYTHON3)
  add_test(NAME test_convoy_run
    COMMAND ${CL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_convoy_run.py $<TARGET_FILE:conlab>)
  set_tests_properties(test_convoy_run PROPERTIES TIMEOUT 300 LABELS integration)
  add_test(NAME test_python_startup
    COMMAND ${CL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/test_convoy_run.py $<TARGET_FILE:conlab>
            --python)
  set_tests_properties(test_python_startup PROPERTIES TIMEOUT 300 LABELS integration)
endif()
