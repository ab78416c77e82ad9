"""Running a benchmark as a command: the error a benchmark stops on, the
signals that stop it, its exit status, and the output of the tools it asks
about (versions, nproc, df)."""

import signal
import subprocess
import sys


class BenchError(Exception):
    """A server or the load generator did not do what the benchmark needs."""


class Interrupted(Exception):
    """A signal asked the benchmark to stop."""


def _on_signal(signum, _frame):
    raise Interrupted(signum)


def run_main(main):
    """Runs a benchmark's ``main(argv)`` as a command: servers are stopped on
    SIGINT/SIGTERM/SIGHUP, errors are one line, and the exit status says
    which happened."""
    # Also when started in the background, where SIGINT arrives ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:
        signum = e.args[0]
        print(f"stopped by {signal.Signals(signum).name}; every server started was stopped",
              file=sys.stderr)
        sys.exit(128 + signum)


def output(argv, stderr=False):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return ((r.stdout or "") + (r.stderr if stderr else "")).strip()
