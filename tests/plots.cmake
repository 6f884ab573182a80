# Figures and report (issue 5).
cl_test(test_plots_read SOURCES test_plots_read.c LABELS unit TIMEOUT 60)
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME plots_e2e COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_plots.py
  $<TARGET_FILE:conlab> ${PROJECT_SOURCE_DIR}/plots)
set_tests_properties(plots_e2e PROPERTIES TIMEOUT 300 LABELS integration)
# The story's plan follows its chain of parts, the convoy probe included.
cl_test(test_story_plan SOURCES test_story_plan.c LABELS unit TIMEOUT 60)
