cl_test(test_stats SOURCES test_stats.c LABELS unit TIMEOUT 30)
cl_test(test_parse SOURCES test_parse.c LABELS unit TIMEOUT 30)
