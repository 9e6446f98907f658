"""Runs one worker command and writes its exit code to a file (a tiny stand-in for the kubelet).

Usage: ``python launcher.py EXIT_FILE -- ARGV...``. ``sedna run`` starts workers through it in
their own session, so a worker outlives a killed ``sedna run``; the exit file lets the next
``sedna run`` learn how a worker it did not start ended. SIGTERM and SIGINT are forwarded.
This file is executed as a script and imports nothing from the project.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: launcher.py EXIT_FILE -- ARGV...\n")
        return 2
    exit_file, command = argv[0], argv[2:]
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        sys.stderr.write(f"cannot start {command[0]!r}: {exc}\n")
        code = 127
    else:

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        code = child.wait()
        if code < 0:  # killed by a signal: report it as a shell would
            code = 128 - code
    tmp = f"{exit_file}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(str(code))
    os.replace(tmp, exit_file)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
