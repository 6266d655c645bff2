"""Run a snippet in a fresh interpreter and measure it: wall time and its own peak RSS.

Linux carries the high-water RSS of a process across ``exec``: a child forked
from a bench that holds a 400 MB model reports at least 400 MB in
``ru_maxrss`` whatever it does itself. So the snippet runs as the child of a
small launcher interpreter (forked after the launcher's own ``exec``), which
times it, reads ``ru_maxrss`` and the CPU time (user + system, every thread)
of its children (``RUSAGE_CHILDREN``) and prints them as its last line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_LAUNCH = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run([sys.executable, "-c", *sys.argv[1:]]).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
print(f"CHILD-MEASURE {code} {wall!r} {usage.ru_maxrss * 1024} {cpu!r}", flush=True)
"""


def measure(code: str, *args: str, timeout: float) -> dict[str, Any]:
    """``{"wall_s", "cpu_s", "peak_rss_bytes", "output"}`` or ``{"error"}``.

    ``output`` is the last line the snippet prints.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, code, *args],
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,  # the launcher and its child, killed together on timeout
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return {"error": f"did not finish within {timeout:g} s"}
        out.seek(0)
        err.seek(0)
        lines = [line for line in out.read().splitlines() if line.strip()]
        stderr = [line for line in err.read().splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("CHILD-MEASURE "):
        return {"error": stderr[-1] if stderr else f"launcher exit code {proc.returncode}"}
    status, wall, rss, cpu = lines[-1].split()[1:]
    if int(status) != 0:
        return {"error": stderr[-1] if stderr else f"exit code {status}"}
    output = lines[-2] if len(lines) > 1 else ""
    return {
        "wall_s": float(wall),
        "cpu_s": float(cpu),
        "peak_rss_bytes": int(rss),
        "output": output,
    }
