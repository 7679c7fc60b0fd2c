"""Installed by bench/allocators.py as `sitecustomize` in the benchmark's own virtual
environment: when BENCH_ALLOCATOR_DIR is set, SIGUSR1 makes the process write its
allocators' figures to a JSON file in that directory. Nothing else changes.
"""

import os

if os.environ.get("BENCH_ALLOCATOR_DIR"):
    import ctypes
    import gc
    import json
    import re
    import signal
    import sys
    import tempfile

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    def _glibc() -> dict[str, int]:
        try:
            mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
        except (OSError, AttributeError):  # not glibc, or glibc before 2.33
            return {}
        mallinfo2.restype = _MallInfo2
        info = mallinfo2()
        return {
            "c_in_use": info.uordblks + info.hblkhd,
            "c_free": info.fordblks,
        }

    def _pymalloc() -> dict[str, int]:
        """CPython's small-object allocator, from sys._debugmallocstats() (C stderr)."""
        with tempfile.TemporaryFile() as out:
            saved = os.dup(2)
            os.dup2(out.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            out.seek(0)
            text = out.read().decode()

        def figure(label: str) -> int:
            found = re.search(re.escape(label) + r"[^=\n]*=\s*([\d,]+)", text)
            return int(found.group(1).replace(",", "")) if found else 0

        return {
            "py_in_use": figure("# bytes in allocated blocks"),
            "py_free": figure("# bytes in available blocks") + figure("unused pools"),
            "py_arenas": figure("# arenas allocated current"),
        }

    def _report(signum: int, frame: object) -> None:
        gc.collect()
        with open("/proc/self/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        figures = {"rss_kib": rss, **_pymalloc(), **_glibc()}
        directory = os.environ["BENCH_ALLOCATOR_DIR"]
        partial = os.path.join(directory, f".{os.getpid()}.json")
        with open(partial, "w") as file:
            json.dump(figures, file)
        os.replace(partial, os.path.join(directory, f"{os.getpid()}.json"))

    signal.signal(signal.SIGUSR1, _report)
