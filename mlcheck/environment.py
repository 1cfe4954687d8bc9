"""Environment files: what Python and which package versions each side ran with.

Reads the four forms a team is likely to have at hand and turns each into one `Environment`:

- `pip freeze` output or a requirements file with pins (`numpy==1.26.4`, extras, markers,
  `pkg @ url`, `-e` lines, pip options such as `--index-url`);
- a conda `environment.yml` (conda deps `- numpy=1.26.4` and the `- pip:` sub-list);
- the JSON written by `mlcheck env capture`: {"python", "platform", "packages": {name: version}}.

A line that cannot be understood is kept in `Environment.problems` (reported, never fatal). A file
that does not exist, cannot be decoded, or is not JSON/YAML at all is an InputError (exit 2).
Package names are canonicalised (PEP 503: `scikit_learn` == `Scikit-Learn` == `scikit-learn`).

This module also answers `mlcheck env capture` (see `capture`).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mlcheck.checklist import Checklist
from mlcheck.errors import InputError
from mlcheck.input_files import unreadable_kind
from mlcheck.safe_yaml import TooManyValues, safe_load

Kind = Literal["json", "requirements", "conda"]
Change = Literal["same", "patch", "minor", "major", "unknown"]

# conda-forge names of packages whose pip name differs; pip's name is the one users list.
CONDA_ALIASES = {"pytorch": "torch", "py-xgboost": "xgboost", "py-lightgbm": "lightgbm"}
_MAX_LINE = 120  # a reported line is cut here: details stay short and secrets in URLs stay out


@dataclass(frozen=True)
class Environment:
    """One side's environment. `packages` maps a canonical name to its pinned version."""

    label: str
    kind: Kind
    python: str | None = None
    platform: str | None = None
    packages: Mapping[str, str] = field(default_factory=dict)
    unversioned: Mapping[str, str] = field(default_factory=dict)  # name -> what was written instead
    problems: tuple[str, ...] = ()  # "line 7: ..." for every line that could not be read


# --------------------------------------------------------------------------- loading


def load_environment(checklist: Checklist, side: str) -> Environment:
    """Read and parse `<side>.environment` of the checklist (`side` is research or production)."""
    spec = getattr(checklist, side).environment
    label = f"{side}.environment"
    if spec is None:
        raise InputError(f"{label} is not declared in the checklist")
    where = checklist.where(label)
    if spec.path is None:
        raise InputError(
            f"{label} ({where}): an environment must be a file `path`, not a database url"
        )
    path = checklist.resolve_path(spec.path)
    return parse_environment(
        _read_text(path, f"{label} ({where})"), detect_kind(path), f"{label} ({spec.path})"
    )


def _read_text(path: Path, label: str) -> str:
    special = unreadable_kind(path, folder_ok=True)  # stat, not open: a named pipe would block
    if special is not None:
        raise InputError(f"{label}: {special}")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{label}: file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{label}: {path} is a folder, not an environment file") from None
    except UnicodeDecodeError:
        raise InputError(f"{label}: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read {path}: {exc.strerror}") from None


def detect_kind(path: Path) -> Kind:
    """By extension: .json is `mlcheck env capture` output, .yml/.yaml conda, anything else pip."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yml", ".yaml"):
        return "conda"
    return "requirements"


def parse_environment(text: str, kind: Kind, label: str = "environment") -> Environment:
    """Parse the text of an environment file of the given kind."""
    if kind == "json":
        return _parse_json(text, label)
    if kind == "conda":
        return _parse_conda(text, label)
    collected = _Collector()
    collected.add_requirement_lines(_logical_lines(text))
    return collected.environment(label, "requirements")


# --------------------------------------------------------------------------- pip / requirements


_INLINE_COMMENT = re.compile(r"(^|\s)#.*$")
# Per-requirement options pip accepts after a requirement (hashes, global/install options).
_TRAILING_OPTION = re.compile(r"\s+--[a-z][a-z-]*(?:[= ]\S+)?")
_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) with `\\` continuations joined and comments removed."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = _INLINE_COMMENT.sub("", pending + line).strip()
        pending = ""
        if joined:
            yield start, joined
    tail = _INLINE_COMMENT.sub("", pending).strip()
    if tail:
        yield start, tail


@dataclass
class _Collector:
    """Accumulates pins, unversioned entries and problems while lines are read."""

    packages: dict[str, str] = field(default_factory=dict)
    unversioned: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    python: str | None = None
    platform: str | None = None

    def environment(self, label: str, kind: Kind) -> Environment:
        return Environment(
            label=label,
            kind=kind,
            python=self.python,
            platform=self.platform,
            packages=dict(sorted(self.packages.items())),
            unversioned=dict(sorted(self.unversioned.items())),
            problems=tuple(self.problems),
        )

    def pin(self, name: str, version: str, where: str) -> None:
        key = canonicalize_name(name)
        try:
            Version(version)
        except InvalidVersion:
            self.problems.append(f"{where}: {name}: {_short(version)!r} is not a version")
            return
        previous = self.packages.get(key)
        if previous is not None and previous != version:
            # Two pins usually differ by an environment marker; the first one is kept.
            self.problems.append(f"{where}: {key} pinned again ({version}); kept {previous}")
            return
        self.packages[key] = version
        self.unversioned.pop(key, None)

    def override_with(self, later: _Collector) -> None:
        """Entries of `later` win: pip installs over conda, so its versions are what is imported."""
        for key in later.packages.keys() | later.unversioned.keys():
            self.packages.pop(key, None)
            self.unversioned.pop(key, None)
        self.packages.update(later.packages)
        self.unversioned.update(later.unversioned)
        self.problems += later.problems

    def no_version(self, name: str, why: str) -> None:
        key = canonicalize_name(name)
        if key not in self.packages:
            self.unversioned[key] = why

    def add_requirement_lines(self, lines: Iterable[tuple[int, str]], prefix: str = "line") -> None:
        for number, line in lines:
            self.add_requirement(line, f"{prefix} {number}")

    def add_requirement(self, line: str, where: str) -> None:
        """One pip requirement line: a pin, an unpinned/editable entry, an option or a problem."""
        if not line:
            return
        first = line.split(maxsplit=1)[0]
        if first in _EDITABLE_OPTIONS or first.startswith("--editable="):
            self._editable(line)
        elif first in _INCLUDE_OPTIONS or first.startswith(("--requirement=", "--constraint=")):
            self.problems.append(
                f"{where}: {_short(line)!r} includes another file, which is not read"
            )
        elif not line.startswith("-"):
            # Other pip options (--index-url, --find-links, ...) say where packages come from,
            # not which versions: they are skipped, and never echoed (index URLs carry tokens).
            self._requirement(_TRAILING_OPTION.sub("", line), where)

    def _editable(self, line: str) -> None:
        target = (
            line.split("=", 1)[1] if line.startswith("--editable=") else line.split(maxsplit=1)[-1]
        )
        egg = _EGG.search(target)
        name = egg.group(1) if egg else Path(urlsplit(target).path.rstrip("/")).name or target
        self.no_version(name, "editable install (-e): no version")

    def _requirement(self, text: str, where: str) -> None:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            self.problems.append(f"{where}: cannot read {_short(text)!r}")
            return
        if req.url:
            version = _version_in_url(req.url)
            if version is not None:
                self.pin(req.name, version, where)
            else:
                self.no_version(req.name, f"direct reference {_safe_url(req.url)}: no version")
            return
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            self.pin(req.name, specs[0].version, where)
        else:
            self.no_version(req.name, f"not pinned ({req.specifier or 'any version'})")


def _version_in_url(url: str) -> str | None:
    """The version in a wheel or sdist file name at the end of a URL, if there is one."""
    filename = unquote(Path(urlsplit(url).path).name)
    try:
        return str(parse_wheel_filename(filename)[1])
    except InvalidWheelFilename:
        pass
    try:
        return str(parse_sdist_filename(filename)[1])
    except InvalidSdistFilename:
        return None


def _safe_url(url: str) -> str:
    """A URL without user:password, cut short: it goes into reports."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return _short(f"{parts.scheme}://{host}{parts.path}")


def _short(text: str) -> str:
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 1] + "…"


# --------------------------------------------------------------------------- conda


# name, then an optional version constraint in conda's match-spec forms: `=1.2`, `==1.2`,
# `=1.2=build`, `1.2 build`, `>=1.2`.
_CONDA_SPEC = re.compile(r"^(?:[\w./-]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(?P<rest>.*)$")
_CONDA_EXACT = re.compile(r"^(?:==?|\s*)(?P<version>[0-9][A-Za-z0-9_.!+-]*?)(?:\.\*)?(?:[= ]\S+)?$")


def _parse_conda(text: str, label: str) -> Environment:
    try:
        data = safe_load(text)
    except TooManyValues as exc:
        raise InputError(f"{label}: the file {exc}") from None
    except RecursionError:
        raise InputError(f"{label}: the file nests too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise InputError(
            f"{label}: not a valid conda environment file{where}: invalid YAML"
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{label}: not a conda environment file: expected a mapping with `dependencies:`"
        )
    collected = _Collector()
    deps = data.get("dependencies")
    if not isinstance(deps, list):
        collected.problems.append("`dependencies:` is missing or not a list")
        deps = []
    pip_items: list[Any] = []
    for index, item in enumerate(deps, start=1):
        if isinstance(item, dict) and list(item) == ["pip"] and isinstance(item["pip"], list):
            pip_items += item["pip"]
        elif isinstance(item, str):
            _conda_dependency(collected, item.strip(), f"dependencies item {index}")
        else:
            collected.problems.append(
                f"dependencies item {index}: cannot read {_short(repr(item))}"
            )
    collected.override_with(_pip_sublist(pip_items))
    return collected.environment(label, "conda")


def _pip_sublist(items: list[Any]) -> _Collector:
    pip = _Collector()
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            pip.add_requirement(item.strip(), f"pip item {number}")
        else:
            pip.problems.append(f"pip item {number}: cannot read {_short(repr(item))}")
    return pip


def _conda_dependency(collected: _Collector, item: str, where: str) -> None:
    match = _CONDA_SPEC.match(item)
    if match is None:
        collected.problems.append(f"{where}: cannot read {_short(item)!r}")
        return
    name = CONDA_ALIASES.get(match.group("name").lower(), match.group("name"))
    rest = match.group("rest").strip()
    exact = _CONDA_EXACT.match(rest) if rest else None
    if name.lower() == "python":
        collected.python = exact.group("version") if exact else None
    elif exact is not None:
        collected.pin(name, exact.group("version"), where)
    else:
        collected.no_version(name, f"not pinned ({rest or 'any version'})")


# --------------------------------------------------------------------------- JSON (env capture)


def _parse_json(text: str, label: str) -> Environment:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{label}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    collected = _Collector()
    if isinstance(data, list):  # `pip list --format json`: [{"name": ..., "version": ...}]
        packages: Any = {d.get("name"): d.get("version") for d in data if isinstance(d, dict)}
    elif isinstance(data, dict):
        packages = data.get("packages", {})
        collected.python = _text_or_problem(data.get("python"), "python", collected)
        collected.platform = _text_or_problem(data.get("platform"), "platform", collected)
    else:
        raise InputError(f"{label}: expected an object like `mlcheck env capture` writes")
    if not isinstance(packages, dict):
        raise InputError(f"{label}: `packages` must map package names to versions")
    for name, version in packages.items():
        if isinstance(name, str) and isinstance(version, str):
            collected.pin(name, version, f"packages.{name}")
        else:
            collected.problems.append(
                f"packages: cannot read {_short(repr(name))}: {_short(repr(version))}"
            )
    return collected.environment(label, "json")


def _text_or_problem(value: Any, key: str, collected: _Collector) -> str | None:
    if value is None or isinstance(value, str):
        return value
    collected.problems.append(f"{key}: expected a string, found {_short(repr(value))}")
    return None


# --------------------------------------------------------------------------- comparing


def version_change(research: str, production: str) -> Change:
    """How far apart two versions are: the first of major/minor/patch that differs.

    Releases are compared padded with zeros (1.26 == 1.26.0); a difference only in a pre-,
    post-, dev- or local part counts as a patch change. An epoch change is major. Versions
    that cannot be parsed are `unknown` unless their text is equal.
    """
    if research == production:
        return "same"
    try:
        old, new = Version(research), Version(production)
    except InvalidVersion:
        return "unknown"
    if old == new:
        return "same"
    if old.epoch != new.epoch:
        return "major"
    width = max(len(old.release), len(new.release), 3)
    a = old.release + (0,) * (width - len(old.release))
    b = new.release + (0,) * (width - len(new.release))
    if a[0] != b[0]:
        return "major"
    if a[1] != b[1]:
        return "minor"
    return "patch"


# --------------------------------------------------------------------------- capture


def capture() -> dict[str, Any]:
    """This interpreter's Python version, platform and installed distributions, sorted by name.

    When a distribution is installed twice (two entries on sys.path), the first one is reported:
    it is the one `import` finds.
    """
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        # Broken installs can lack metadata (None, or KeyError on newer Pythons): left out.
        try:
            name, version = dist.name, dist.version
        except KeyError:
            continue
        if name and version:
            found.setdefault(canonicalize_name(name), (name, version))
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version for _, (name, version) in sorted(found.items())},
    }


def capture_json() -> str:
    """`capture()` as the JSON text `mlcheck env capture` writes (and `load_environment` reads)."""
    return json.dumps(capture(), indent=2) + "\n"
