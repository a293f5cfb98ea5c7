"""Permissions a template grants that no call used, from the records of a test run.

A `LocalStack` started with ``iam_record=PATH`` (or ``VIDEOJOBS_IAM_RECORD=PATH``) appends,
when it stops, one JSON line per grant of its roles (``granted``), per grant a call used
(``used``) and per call refused (``denied``), resource names written as ``${LogicalId}``.
This module gathers the lines of one template and lists each grant never used, grouped by
function or state machine::

    python -m videojobs_local.stack.iam_report RECORD [--template template.yaml]
        [--update docs/security.md]

With ``--update`` the list replaces what stands between the ``iam-unused`` markers of that
Markdown file (``make iam-unused`` runs the whole suite and does this).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

START_MARKER = "<!-- iam-unused:start -->"
END_MARKER = "<!-- iam-unused:end -->"

Key = tuple[str, str, str, str]  # owner, source, action, resource


def load(path: Path, template: Path) -> dict[str, set[Key]]:
    """Granted, used and denied permissions recorded for ``template``, by kind."""
    wanted = str(template.resolve())
    kinds: dict[str, set[Key]] = defaultdict(set)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("template") != wanted:
            continue
        kinds[record["kind"]].add(
            (record["owner"], record["source"], record["action"], record["resource"])
        )
    return kinds


def unused(kinds: dict[str, set[Key]]) -> list[Key]:
    return sorted(kinds.get("granted", set()) - kinds.get("used", set()))


_REGION_ACCOUNT = re.compile(r":[a-z]{2}(-[a-z]+)+-\d:\d{12}:")


def _short(resource: str) -> str:
    return _REGION_ACCOUNT.sub(":${AWS::Region}:${AWS::AccountId}:", resource)


def render(kinds: dict[str, set[Key]]) -> str:
    """The unused grants as Markdown: per function or state machine, per policy and
    resource pattern, the actions no call used."""
    granted: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for owner, source, action, resource in kinds.get("granted", set()):
        granted[(owner, source, resource)].add(action)
    left = set(unused(kinds))
    by_owner: dict[str, list[str]] = defaultdict(list)
    for (owner, source, resource), actions in sorted(granted.items()):
        idle = sorted(a for a in actions if (owner, source, a, resource) in left)
        if not idle:
            continue
        listed = "all" if len(idle) == len(actions) > 1 else ", ".join(f"`{a}`" for a in idle)
        by_owner[owner].append(f"  - {source} on `{_short(resource)}`: {listed}")
    lines: list[str] = []
    if not by_owner:
        lines.append("Every granted permission was used by the suite.")
    for owner in sorted(by_owner):
        lines.append(f"- **{owner}**")
        lines.extend(by_owner[owner])
    denied = sorted(kinds.get("denied", set()))
    if denied:
        lines.append("")
        lines.append("Calls refused during the run:")
        for owner, reason, action, resource in denied:
            lines.append(f"- {owner}: `{action}` on `{_short(resource)}` ({reason})")
    return "\n".join(lines) + "\n"


def update(document: Path, text: str) -> None:
    """Replace the text between the markers of ``document`` with ``text``."""
    content = document.read_text(encoding="utf-8")
    start = content.find(START_MARKER)
    end = content.find(END_MARKER)
    if start < 0 or end < start:
        raise SystemExit(f"{document} has no {START_MARKER} ... {END_MARKER} section")
    head = content[: start + len(START_MARKER)]
    document.write_text(head + "\n" + text + content[end:], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("record", type=Path)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--update", type=Path, default=None, help="Markdown file to update")
    args = parser.parse_args(argv)
    kinds = load(args.record, args.template)
    if not kinds.get("granted"):
        print(f"no grants recorded for {args.template} in {args.record}", file=sys.stderr)
        return 1
    text = render(kinds)
    if args.update is not None:
        update(args.update, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
