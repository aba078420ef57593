"""CPU time and memory of one process, read from /proc, and a description of this machine.

No psutil: the figures we need are two lines of /proc, and every extra dependency is one more
thing a fresh machine has to install before `python -m bench` runs. Linux only, like the
deployment target.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of a process: CPU seconds (user + system) and memory in bytes."""

    at: float  # time.perf_counter()
    cpu: float
    rss: int
    peak_rss: int  # VmHWM: the high-water mark since the process started


def sample(pid: int | None = None) -> Sample:
    """Read a process's CPU and memory now (default: this process)."""
    pid = pid or os.getpid()
    at = time.perf_counter()
    # Field 2 (comm) may contain spaces: split after its closing parenthesis.
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / _TICKS  # utime, stime (fields 14 and 15)
    rss = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return Sample(at, cpu, rss, peak)


def children_cpu(pids: list[int]) -> float:
    """CPU seconds of several processes together (e.g. the PostgreSQL backends)."""
    total = 0.0
    for pid in pids:
        try:
            total += sample(pid).cpu
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def postgres_pids() -> list[int]:
    """Every running postgres process on this machine: its CPU competes with the bot's."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def mb(size: int | float) -> float:
    return round(size / (1024 * 1024), 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, object]:
    """What the figures were measured on: they mean little without it."""
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory / 1024**3, 1),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "python_telegram_bot": _version("python-telegram-bot"),
        "aiohttp": _version("aiohttp"),
        "aiosqlite": _version("aiosqlite"),
        "asyncpg": _version("asyncpg"),
        "sqlite": sqlite3.sqlite_version,
    }
