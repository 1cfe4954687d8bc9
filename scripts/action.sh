#!/usr/bin/env bash
# The GitHub Action's step (action.yml): run `mlcheck run`, add the report to the job summary,
# publish the report paths as step outputs, and exit with mlcheck's code (so 1, "not ready",
# fails the step). Inputs come as MLCHECK_* variables; GITHUB_STEP_SUMMARY and GITHUB_OUTPUT
# are the files GitHub reads afterwards (any file works when run by hand).
set -uo pipefail

checklist="${MLCHECK_CHECKLIST:?the checklist input is required}"
format="${MLCHECK_FORMAT:-markdown}"
case "$format" in
    markdown) extension=md ;;
    json) extension=json ;;
    terminal) extension=txt ;;
    *) echo "::error::mlcheck action: format must be markdown, json or terminal, not '$format'"; exit 2 ;;
esac
report="${MLCHECK_REPORT:-mlcheck-report.$extension}"
junit="${MLCHECK_JUNIT-mlcheck-junit.xml}"
html="${MLCHECK_HTML:-}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
outputs="${GITHUB_OUTPUT:-/dev/null}"

command=(mlcheck run "$checklist" --format "$format" --output "$report" --no-color)
if [ -n "$junit" ]; then command+=(--junit "$junit"); fi
if [ -n "$html" ]; then command+=(--html "$html"); fi
# Split on whitespace and newlines (an `args: |` block keeps its line breaks), like a command
# line without quotes; `read` stops at the first newline unless told to read to the end.
read -r -d '' -a extra <<< "${MLCHECK_ARGS:-}" || true
errors="$(mktemp)"
started="$(mktemp)"  # a report older than this was left by an earlier step, not written now
trap 'rm -f "$errors" "$started"' EXIT

"${command[@]}" "${extra[@]}" 2> "$errors"
code=$?
cat "$errors" >&2

fresh() { [ -n "$1" ] && [ -s "$1" ] && ! [ "$1" -ot "$started" ]; }

{
    if fresh "$report" && [ "$format" = markdown ]; then
        cat "$report"
    elif fresh "$report"; then
        printf '### mlcheck (%s)\n\n```\n' "$checklist"
        cat "$report"
        printf '\n```\n'
    else
        printf '### mlcheck could not run %s (exit %s)\n\n```\n' "$checklist" "$code"
        cat "$errors"
        printf '```\n'
    fi
} >> "$summary"

written() { if fresh "$1"; then echo "$1"; fi; }
{
    echo "exit-code=$code"
    echo "report=$(written "$report")"
    echo "junit=$(written "$junit")"
    echo "html=$(written "$html")"
} >> "$outputs"

case "$code" in
    0) ;;
    1) echo "::error::mlcheck: $checklist is not ready for deployment (see the job summary)" ;;
    2) echo "::error::mlcheck: the checklist or one of its inputs is wrong (exit 2)" ;;
    *) echo "::error::mlcheck failed with exit code $code" ;;
esac
exit "$code"
