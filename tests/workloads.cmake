# Workload catalogue and CPU kernels.
cl_test(test_kernels SOURCES test_kernels.c LABELS unit TIMEOUT 60)
cl_test(test_kernels_linear SOURCES test_kernels_linear.c LABELS unit TIMEOUT 120)
cl_test(test_workloads SOURCES test_workloads.c LABELS unit TIMEOUT 180)
cl_test(test_kernels_yield SOURCES test_kernels_yield.c LABELS unit TIMEOUT 60)
