"""conlab's CPython runner: the py.* executors start this script once and send
it batches (executors/python_exec.c); people can run it too.

  conlab_runner.py serve FD PATTERN WORKERS CHUNKSIZE
      answer batches on file descriptor FD (what the executors do)
  conlab_runner.py info
      print this interpreter's version and whether its GIL is enabled
  conlab_runner.py convoy [INTERVAL_MS [WAKEUPS [SLEEP_MS]]]
      measure the convoy effect on the real GIL: how late a thread that
      sleeps SLEEP_MS gets to run again beside a CPU-bound thread

This bootstrap uses only syntax that old interpreters parse, so that they can
say that they are too old instead of failing on a syntax error.
"""

import os
import sys

MIN_VERSION = (3, 8)


def too_old():
    return "python %d.%d.%d is older than %d.%d, which conlab needs" % (
        sys.version_info[0],
        sys.version_info[1],
        sys.version_info[2],
        MIN_VERSION[0],
        MIN_VERSION[1],
    )


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    if argv[1] == "serve":
        if len(argv) != 6:
            sys.stderr.write("usage: conlab_runner.py serve FD PATTERN WORKERS CHUNKSIZE\n")
            return 2
        fd = int(argv[2])
        if tuple(sys.version_info[:2]) < MIN_VERSION:
            os.write(fd, ("fatal " + too_old() + "\n").encode("ascii"))
            return 3
        import conlab_ref

        return conlab_ref.serve(fd, argv[3], int(argv[4]), int(argv[5]))
    if tuple(sys.version_info[:2]) < MIN_VERSION:
        sys.stderr.write(too_old() + "\n")
        return 3
    import conlab_ref

    if argv[1] == "info":
        v = sys.version_info
        sys.stdout.write(
            "%s %d.%d.%d, GIL %s\n"
            % (sys.implementation.name, v[0], v[1], v[2], "enabled" if conlab_ref.gil_enabled() else "disabled")
        )
        return 0
    if argv[1] == "convoy":
        interval_ms = float(argv[2]) if len(argv) > 2 else 5.0
        wakeups = int(argv[3]) if len(argv) > 3 else 20
        sleep_ms = float(argv[4]) if len(argv) > 4 else 1.0
        busy_s = 2.0 + wakeups * (sleep_ms + 2 * interval_ms) / 1e3
        for label, busy in (("alone", 0.0), ("beside a CPU-bound thread", busy_s)):
            lat = conlab_ref.convoy(interval_ms / 1e3, wakeups, sleep_ms / 1e3, busy)
            lat.sort()
            sys.stdout.write(
                "wakeup latency %-26s mean %7.3f ms  median %7.3f ms  max %7.3f ms  "
                "(switch interval %.3g ms, %d wakeups of %.3g ms)\n"
                % (label, 1e3 * sum(lat) / len(lat), 1e3 * lat[len(lat) // 2], 1e3 * lat[-1], interval_ms, wakeups, sleep_ms)
            )
        return 0
    sys.stderr.write("conlab_runner.py: unknown command %r (valid: serve, info, convoy)\n" % argv[1])
    return 2


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv))
