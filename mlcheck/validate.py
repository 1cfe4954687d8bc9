"""Pre-flight checks of a loaded checklist's sources: they exist and (optionally) have the
declared columns. Reads file metadata or headers only, never whole tables."""

from __future__ import annotations

from mlcheck.checklist import Checklist, SourceSpec
from mlcheck.engine import slot_specs
from mlcheck.errors import InputError
from mlcheck.sources import peek_columns


def validate_sources(checklist: Checklist, *, read_schema: bool) -> None:
    """Raise one InputError listing every missing source (and absent declared column)."""
    problems: list[str] = []
    for slot, spec in slot_specs(checklist).items():
        specs = spec.items() if isinstance(spec, dict) else [("", spec)]
        for name, one in specs:
            label = f"{slot}.{name}" if name else slot
            problems += _problems(checklist, one, label, read_schema)
    for side in ("research", "production"):
        env = getattr(checklist, side).environment
        if env is not None and env.path and not checklist.resolve_path(env.path).exists():
            problems.append(f"{side}.environment ({checklist.where(side + '.environment')}): file not found: {env.path}")
    if problems:
        head = problems[0] if len(problems) == 1 else f"{len(problems)} sources have problems:\n  " + "\n  ".join(problems)
        raise InputError(head)


def _problems(checklist: Checklist, spec: SourceSpec, label: str, read_schema: bool) -> list[str]:
    where = checklist.where(label)
    if spec.path is not None and not checklist.resolve_path(spec.path).exists():
        return [f"{label} ({where}): file not found: {checklist.resolve_path(spec.path)}"]
    if not read_schema:
        return []
    try:
        names = peek_columns(spec, checklist, label)
    except InputError as exc:
        return [exc.message]
    wanted = list(spec.columns or []) + list(spec.key_columns or checklist.key_columns or [])
    absent = [c for c in dict.fromkeys(wanted) if c not in names]
    return [f"{label} ({where}): declared column {c!r} is absent" for c in absent]
