# Executor core: phase interpreter, registry, executors, thread pool, GIL.
cl_test(test_exec_phase SOURCES test_exec_phase.c LABELS unit TIMEOUT 30)
cl_test(test_exec_threads_fail SOURCES test_exec_threads_fail.c LABELS unit TIMEOUT 60)
cl_test(test_thread_pool SOURCES test_thread_pool.c LABELS unit TIMEOUT 60)
cl_test(test_gil SOURCES test_gil.c LABELS unit TIMEOUT 60)
cl_test(test_exec_conformance SOURCES test_exec_conformance.c LABELS integration TIMEOUT 120)
cl_test(test_exec_io SOURCES test_exec_io.c LABELS integration TIMEOUT 60)
