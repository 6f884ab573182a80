# Issue 4: hardware topology (hwloc), --workers auto, binding.
cl_test(test_topology SOURCES test_topology.c LABELS unit TIMEOUT 60)
cl_test(test_topology_bind SOURCES test_topology_bind.c LABELS unit TIMEOUT 120)
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME test_topo_cli COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/test_topo_cli.py
  $<TARGET_FILE:conlab>)
set_tests_properties(test_topo_cli PROPERTIES TIMEOUT 180 LABELS integration)
