"""Peak memory of a process as the benchmarks report it."""

from __future__ import annotations

from pathlib import Path


def vm_hwm_kb(pid: int | str = "self") -> int:
    """Peak resident set size (`VmHWM`, kB) of one process, from `/proc/<pid>/status`.

    VmHWM belongs to the process's address space, which exec replaces: unlike `ru_maxrss`
    (kept across exec, so a child reports at least its parent's size) it is this program's own.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def vm_hwm_mb(pid: int | str = "self") -> float:
    """VmHWM in MB (1024 × 1024 bytes), for summary lines."""
    return vm_hwm_kb(pid) / 1024
