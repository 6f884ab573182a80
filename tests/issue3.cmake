# Issue 3: process pool, event loop, real network I/O (io.net).
cl_test(test_event_loop SOURCES test_event_loop.c LABELS unit TIMEOUT 60)
cl_test(test_event_loop_exec SOURCES test_event_loop_exec.c LABELS integration TIMEOUT 180)
cl_test(test_process_pool SOURCES test_process_pool.c LABELS integration TIMEOUT 300)
cl_test(test_process_pool_kill SOURCES test_process_pool_kill.c LABELS integration TIMEOUT 120)
cl_test(test_net SOURCES test_net.c LABELS integration TIMEOUT 120)
