"""The Python tests' shared tally: check() counts each assertion and prints
the ones that fail; finish() prints the totals and exits 1 if any failed."""

import sys

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)
    return cond


def finish(prefix="", require_pass=False):
    """Exits 1 on a failure, or when require_pass and nothing was checked."""
    print(f"{prefix}{passed} passed, {failed} failed")
    sys.exit(1 if failed or (require_pass and not passed) else 0)
