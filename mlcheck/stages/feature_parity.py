"""Stage 2, feature_parity: the same raw data must give the same features in both environments.

Two independent halves, each run when both sides declare it:

- features (FEAT checks): research.features vs production.features matched on the key, built on
  the stage-1 comparison engine (`mlcheck.compare`), plus named causes: imputation, clipping,
  infinities, float precision, unseeded sampling;
- environments (ENV checks): Python and package versions from each side's environment file.
"""

from __future__ import annotations

from collections.abc import Iterator

from packaging.utils import canonicalize_name

from mlcheck.checklist import Checklist
from mlcheck.context import StageContext
from mlcheck.environment import Environment, version_change
from mlcheck.registry import check
from mlcheck.results import Finding, Status

STAGE = "feature_parity"

_SIDES = ("research", "production")


def skip_reason(checklist: Checklist) -> str | None:
    """Runs when both sides declare `features`, or both declare `environment`."""
    if _both_features(checklist) or _both_environments(checklist):
        return None
    return (
        "needs `features` on both research and production, or `environment` on both "
        "(neither pair is declared)"
    )


def _both_features(checklist: Checklist) -> bool:
    return checklist.research.features is not None and checklist.production.features is not None


def _both_environments(checklist: Checklist) -> bool:
    return all(getattr(checklist, side).environment is not None for side in _SIDES)


# =========================================================================== environments


def _environments(ctx: StageContext) -> tuple[Environment, Environment] | None:
    if not _both_environments(ctx.checklist):
        return None
    return ctx.engine.environment("research"), ctx.engine.environment("production")


_CHANGE_STATUS = {"same": Status.PASS, "patch": Status.WARN, "unknown": Status.WARN}


@check("ENV001", STAGE)
def python_version(ctx: StageContext) -> Iterator[Finding]:
    """Python version is the same on both sides.

    Compares the Python version recorded in each side's environment file (`mlcheck env capture`
    JSON, or `python=` in a conda environment.yml; pip freeze and requirements files do not
    record it). A different minor version (3.10 -> 3.11) fails, a different patch (3.11.4 ->
    3.11.7) warns. A version recorded on one side only is reported, not failed.

    Why it matters: a Python minor release changes the standard library (hashing, float
    formatting, datetime parsing) and which wheels of numpy/pandas/scikit-learn get installed,
    so the same code can build different features.

    How to fix: build the production image from the research Python minor version (pin it in
    the Dockerfile / conda env), or re-run research on the new version and re-validate.
    """
    declared = [side for side in _SIDES if getattr(ctx.checklist, side).environment is not None]
    if len(declared) == 1:
        yield _one_environment_declared(declared[0])
        return
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    platforms = {"research_platform": research.platform, "production_platform": production.platform}
    if research.python is None or production.python is None:
        unknown = " and ".join(e.label for e in pair if e.python is None)
        yield Finding(
            Status.PASS,
            f"Python version not recorded in {unknown}: not compared",
            source="environment",
            observed=production.python,
            expected=research.python,
            hint="Record it with `mlcheck env capture -o environment.json` on each side.",
            details=platforms,
        )
        return
    change = version_change(research.python, production.python)
    yield Finding(
        _CHANGE_STATUS.get(change, Status.FAIL),
        f"Python {research.python} in research, {production.python} in production ({change})",
        source="environment",
        observed=production.python,
        expected=research.python,
        hint=None if change == "same" else _PYTHON_HINT,
        details={"change": change, **platforms},
    )


_PYTHON_HINT = (
    "A different Python changes the standard library and the wheels installed for it; "
    "run production on the research Python version (pin it in the image) or re-validate."
)


def _one_environment_declared(side: str) -> Finding:
    other = "production" if side == "research" else "research"
    return Finding(
        Status.WARN,
        f"only {side} declares an environment file: nothing to compare it with",
        source="environment",
        hint=f"Add `{other}: environment: {{path: ...}}` (e.g. `mlcheck env capture -o env.json` there).",
    )


@check("ENV002", STAGE, thresholds=("packages",))
def listed_package_versions(ctx: StageContext) -> Iterator[Finding]:
    """Listed packages have the same major.minor version on both sides.

    For each package in `packages` (default: numpy, pandas, scipy, scikit-learn, pyarrow,
    xgboost, lightgbm, catboost, torch, tensorflow, statsmodels), compares the versions pinned
    in the two environment files. Names are canonicalised (scikit_learn == scikit-learn).
    A major or minor change fails, a patch change warns, a package present on one side only
    fails, a package present but not pinned (`>=`, `-e`, a URL without a version) warns because
    it cannot be compared. Listed packages absent from both files are ignored.

    Why it matters: these libraries change defaults and numerical results between minor
    versions (a scikit-learn estimator's default solver, pandas' dtype inference, numpy's
    random streams), so the same feature code gives different features or predictions.

    How to fix: install production from the research lock file (`pip freeze` /
    `mlcheck env capture` output), or upgrade research too and re-validate the model.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    same: dict[str, str] = {}
    for name in sorted({_canonical(p) for p in ctx.config.packages}):
        finding = _compare_package(name, research, production)
        if finding is not None:
            yield finding
        elif name in research.packages:
            same[name] = research.packages[name]
    if not same:
        return
    yield Finding(
        Status.PASS,
        f"{len(same)} listed package(s) at the same version: "
        + ", ".join(f"{n} {v}" for n, v in same.items()),
        source="environment",
        details={"same": same},
    )


def _compare_package(name: str, research: Environment, production: Environment) -> Finding | None:
    """A finding for one listed package when it differs; None when equal or absent on both."""
    known = [name in e.packages or name in e.unversioned for e in (research, production)]
    if not any(known):
        return None
    if not all(known):
        where, missing = ("research", "production") if known[0] else ("production", "research")
        version = (research if known[0] else production).packages.get(name, "unpinned")
        return Finding(
            Status.FAIL,
            f"{name} {version} is in {where} but missing from the {missing} environment",
            source=name,
            observed=production.packages.get(name),
            expected=research.packages.get(name),
            hint=f"Install {name} {version} in {missing} too, or remove the dependency from {where}.",
        )
    if name not in research.packages or name not in production.packages:
        why = {
            s: e.unversioned[name]
            for s, e in zip(_SIDES, (research, production), strict=True)
            if name in e.unversioned
        }
        return Finding(
            Status.WARN,
            f"{name} is not pinned in {' and '.join(why)}: versions cannot be compared",
            source=name,
            observed=production.packages.get(name),
            expected=research.packages.get(name),
            hint=f"Pin {name}==<version> in both environment files (e.g. from `pip freeze`).",
            details={"unversioned": why},
        )
    return _version_finding(name, research.packages[name], production.packages[name])


def _version_finding(name: str, old: str, new: str) -> Finding | None:
    change = version_change(old, new)
    if change == "same":
        return None
    return Finding(
        _CHANGE_STATUS.get(change, Status.FAIL),
        f"{name} {old} in research, {new} in production ({change} version change)",
        source=name,
        observed=new,
        expected=old,
        hint=(
            f"{name} {change} versions can change defaults and numerical results; install "
            f"{name}=={old} in production (from the research lock file) or re-validate on {new}."
        ),
        details={"change": change},
    )


@check("ENV003", STAGE)
def other_package_versions(ctx: StageContext) -> Iterator[Finding]:
    """Other packages: version differences, for information.

    Lists the packages outside `packages` whose version differs between the two environment
    files, or that are installed on one side only. It never fails: most of these cannot change
    features, but when a feature check above fails, a changed dependency here is often why.

    How to use: read the list next to a failing feature check; promote a package that matters
    to your pipeline into `stages.feature_parity.packages` so its changes gate the release.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    research, production = pair
    listed = {_canonical(p) for p in ctx.config.packages}
    old = {k: v for k, v in research.packages.items() if k not in listed}
    new = {k: v for k, v in production.packages.items() if k not in listed}
    changed = {
        k: [old[k], new[k]]
        for k in sorted(old.keys() & new.keys())
        if version_change(old[k], new[k]) != "same"
    }
    only_research = sorted(old.keys() - new.keys())
    only_production = sorted(new.keys() - old.keys())
    limit = ctx.config.examples
    yield Finding(
        Status.PASS,
        f"{len(old.keys() | new.keys())} other packages: {len(changed)} at another version, "
        f"{len(only_research)} only in research, {len(only_production)} only in production",
        source="environment",
        observed=len(changed) + len(only_research) + len(only_production),
        details={
            "n_changed": len(changed),
            "changed": dict(list(changed.items())[:limit]),
            "n_only_research": len(only_research),
            "only_research": only_research[:limit],
            "n_only_production": len(only_production),
            "only_production": only_production[:limit],
        },
    )


@check("ENV004", STAGE)
def environment_files_read(ctx: StageContext) -> Iterator[Finding]:
    """Every line of both environment files was understood.

    Reports lines of an environment file that could not be read as a package version (a typo,
    an unsupported syntax, a `-r other.txt` include that is not followed, a package pinned twice).
    It warns rather than fails: the rest of the file was compared, but a version on such a line
    was not. Pip options (`--index-url`, `--hash`) and comments are skipped silently.

    How to fix: correct the line, or regenerate the file with `pip freeze` or
    `mlcheck env capture`.
    """
    pair = _environments(ctx)
    if pair is None:
        return
    for side, env in zip(_SIDES, pair, strict=True):
        n = len(env.problems)
        yield Finding(
            Status.WARN if n else Status.PASS,
            f"{n} line(s) of {env.label} could not be read"
            if n
            else f"{env.label}: {len(env.packages)} pinned packages read",
            source=f"{side}.environment",
            observed=n,
            hint="Fix these lines or regenerate the file with `pip freeze` / `mlcheck env capture`."
            if n
            else None,
            details={
                "n_problems": n,
                "problems": list(env.problems[: ctx.config.examples]),
                "kind": env.kind,
            },
        )


def _canonical(name: str) -> str:
    return str(canonicalize_name(name))
