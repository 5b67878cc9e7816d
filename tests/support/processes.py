"""Process ids for the recovery tests: what a process that crashed mid-publish leaves behind is named by its pid."""

import subprocess
import sys


def dead_pid() -> int:
    """The pid of a Python process that has already exited (so no live process owns files named after it)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
