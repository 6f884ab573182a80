# Issue 9: reliability. Faults and signals through the CLI (one ctest per
# scenario, see test_reliability.py), cell isolation at the C level, and the
# bad command lines of bad_input.tsv (tests/cli.cmake runs those).
cl_test(test_reliability_cells SOURCES test_reliability_cells.c LABELS integration TIMEOUT 60)
foreach(scenario sigint sigterm double_sigint timeout cell_crash worker_killed task_crash
        delay_server_killed nproc nofile full_disk no_isolate)
  add_test(NAME reliability_${scenario}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_reliability.py
      $<TARGET_FILE:conlab> ${scenario})
  set_tests_properties(reliability_${scenario} PROPERTIES TIMEOUT 120 LABELS integration)
endforeach()
# RLIMIT_NPROC counts every process of the user: run alone so that other
# tests' threads do not use up the allowance (when not root).
set_tests_properties(reliability_nproc PROPERTIES RUN_SERIAL TRUE)
