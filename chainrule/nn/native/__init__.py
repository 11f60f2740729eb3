"""Small C kernels for the generation steps that per-operation overhead dominates (WaveNet's stack at batch 1),
compiled with the machine's C compiler on first use and kept in the cache folder, then called through ctypes.

The build is keyed by the source, the flags, the compiler and the CPU's instruction flags, so a cache folder
shared between machines never hands one CPU a library built for another; it costs well under a second, is paid
once per machine (setup.sh builds it), and loading the built library once per process. Where no compiler is
installed, the build fails, or CHAINRULE_NATIVE=0 is set, `library` returns None and callers keep their PyTorch
step (the same arithmetic).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).parent
# no -ffast-math: linked into a shared library it sets the processor's flush-to-zero mode for the whole process
# (crtfastmath.o), which changes every other float computation in it
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC", "-std=c99")


def cache_dir() -> Path:
    return Path(os.environ.get("CHAINRULE_CACHE", Path.home() / ".cache" / "chainrule")) / "native"


def compiler() -> str | None:
    """The C compiler: $CC, else cc, gcc or clang on the PATH."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def cpu_flags() -> str:
    """The CPU's model and instruction flags (what -march=native builds for)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [line for line in text.splitlines() if line.startswith(("flags", "model name", "Features"))]
    return "\n".join(sorted(set(lines)))


@cache
def library(name: str) -> ctypes.CDLL | None:
    """The compiled `name.c` of this folder (built on first use), or None where it cannot be built or is off."""
    if os.environ.get("CHAINRULE_NATIVE", "1") == "0":
        return None
    cc = compiler()
    if cc is None:
        log.info("no C compiler: the PyTorch step is used")
        return None
    source = (SOURCE_DIR / f"{name}.c").read_bytes()
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    key = hashlib.sha256(b"\0".join([source, " ".join(FLAGS).encode(), version.encode(), cpu_flags().encode()]))
    target = cache_dir() / f"{name}-{key.hexdigest()[:16]}.so"
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp) / target.name
                result = subprocess.run(
                    [cc, *FLAGS, str(SOURCE_DIR / f"{name}.c"), "-o", str(built), "-lm"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if result.returncode != 0:
                    log.warning("building %s failed; the PyTorch step is used:\n%s", name, result.stderr[-2000:])
                    return None
                os.replace(built, target)  # atomic: a process beside this one sees all of it or none
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("building %s failed (%s); the PyTorch step is used", name, err)
            return None
    try:
        return ctypes.CDLL(str(target))
    except OSError as err:
        log.warning("loading %s failed (%s); the PyTorch step is used", target, err)
        return None
