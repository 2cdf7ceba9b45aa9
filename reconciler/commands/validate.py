"""`reconciler validate`: the declaration, every source and the provider limits, offline.

Rule: the run fails (exit 1) when the declaration has a problem, a source cannot be read, an
audience ends with no valid members, or a provider limit would be exceeded (the limits each
provider class declares, e.g. members and bytes of the upload; `plan` checks them the same way).
Invalid and duplicate rows are reported with counts and
masked samples but do not fail validation by themselves: plan and apply skip them the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text

from reconciler import console
from reconciler.app import add_config_flags, state_dir
from reconciler.config.checks import source_error_detail
from reconciler.config.load import load_declaration
from reconciler.config.model import AudienceSpec, Declaration, SourceSpec
from reconciler.errors import ConfigError, Problem, SourceError
from reconciler.outputs import check_project_output
from reconciler.planning.limits import Upload, limit_problems, measure_upload
from reconciler.providers import registry
from reconciler.safetext import printable
from reconciler.sources import SourceScan, scan_source
from reconciler.sources.gitcheck import tracked_sources

SAMPLES = 3


@dataclass
class AudienceReport:
    """What validate learned about one audience; counts and masked samples only."""

    key: str
    provider: str
    name: str
    source: str
    source_sha256: str | None = None
    rows_read: int = 0
    valid: int = 0
    invalid: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    conflicting_duplicates: int = 0
    members: int = 0
    samples: list[str] = field(default_factory=list)
    upload: Upload | None = None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check the declaration, every source and provider limits (offline)",
        description="Check audiences.yaml against its schema and provider rules, read every source, "
        "and check provider limits. Offline; needs no token. Exit 0 when valid, 1 with every problem.",
    )
    add_config_flags(parser)
    parser.add_argument(
        "--rejects",
        metavar="FILE",
        help="write every rejected row (audience, row, reason, masked value) as CSV",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--forbid-tracked-sources",
        action="store_true",
        help="fail when git tracks a source file (raw phone numbers and e-mails must not be committed)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the project; print a report; exit 0 or raise ConfigError listing every problem."""
    config = Path(args.config)
    try:
        declaration = load_declaration(config)
    except ConfigError as exc:
        if args.format == "json":
            _print_json(config, None, [], exc.problems)
        raise
    if args.rejects:
        check_project_output("--rejects", Path(args.rejects), declaration, state_dir(args))
    key = os.urandom(32)  # throwaway: validate keeps no fingerprints
    reports: list[AudienceReport] = []
    scans: list[SourceScan] = []
    problems: list[Problem] = []
    for spec in declaration.audiences.values():
        report, scan, found = check_audience(spec, key)
        reports.append(report)
        problems += found
        if scan is not None:
            scans.append(scan)
    if args.forbid_tracked_sources:
        problems += tracked_source_problems(declaration)
    if args.rejects:
        write_rejects(scans, Path(args.rejects))
    if args.format == "json":
        _print_json(config, declaration, reports, problems)
    else:
        _print_text(config, declaration, reports, problems, args.rejects)
    if problems:
        raise ConfigError(f"validation failed ({_plural(len(problems), 'problem')})", problems=problems)
    return 0


def tracked_source_problems(declaration: Declaration) -> list[Problem]:
    """One problem per audience whose source file git tracks (committed or staged)."""
    specs = declaration.audiences.values()
    files = [(spec, spec.source) for spec in specs if isinstance(spec.source, SourceSpec)]
    paths = [source.path for _, source in files]  # query sources keep no member data in the repository
    tracked = {path.resolve() for path in tracked_sources(paths, declaration.base_dir)}
    problems: list[Problem] = []
    for spec, source in files:
        if source.path.resolve() in tracked:
            where = spec.location
            problems.append(Problem(
                where.file if where else str(declaration.path), where.line if where else 0,
                where.col if where else 0,
                f"audience '{spec.key}': source {spec.source.display} is tracked by git, which commits raw "
                f"phone numbers and e-mails; run `git rm --cached {spec.source.display}` and list it in "
                ".gitignore",
            ))
    return problems


def check_audience(spec: AudienceSpec, key: bytes) -> tuple[AudienceReport, SourceScan | None, list[Problem]]:
    """Scan one audience's source and check its limits: (report, scan or None, problems)."""
    report = AudienceReport(spec.key, spec.provider, spec.name, spec.source.display)
    where = spec.location
    file, line, col = (where.file, where.line, where.col) if where else ("", 0, 0)
    try:
        scan = scan_source(spec, key)
    except SourceError as exc:
        if spec.is_query and exc.problems:  # already located at the declaration line
            named = f"audience '{spec.key}'"
            return report, None, [
                p if named in p.message else Problem(p.file, p.line, p.col, f"{named}: {p.message}")
                for p in exc.problems
            ]
        message = f"audience '{spec.key}': source cannot be read: {source_error_detail(exc)}"
        return report, None, [Problem(file, line, col, message)]
    _fill(report, scan)
    problems: list[Problem] = []
    if report.members == 0:
        reasons = ", ".join(f"{r} {n}" for r, n in report.invalid_by_reason.items()) or "no data rows"
        problems.append(Problem(file, line, col, f"audience '{spec.key}' has no valid members ({reasons}); "
                                "check its columns, phone_region and source"))
    try:
        report.upload = measure_upload(spec)
    except SourceError as exc:
        message = f"audience '{spec.key}': upload file cannot be rendered: {source_error_detail(exc)}"
        problems.append(Problem(file, line, col, message))
    else:
        if report.upload is not None:
            problems += limit_problems(spec, report.upload)
    return report, scan, problems


def _fill(report: AudienceReport, scan: SourceScan) -> None:
    report.source_sha256 = scan.sha256
    report.rows_read = scan.rows_read
    report.valid = scan.valid
    report.invalid = scan.invalid_count
    report.invalid_by_reason = dict(scan.invalid)
    report.duplicates = scan.duplicates
    report.conflicting_duplicates = scan.conflicting_duplicates
    report.members = scan.member_count
    issues = sorted(scan.issues, key=lambda issue: issue.row)[:SAMPLES]
    report.samples = [" ".join(filter(None, (f"row {i.row}", i.reason, i.masked))) for i in issues]


def write_rejects(scans: Iterable[SourceScan], dest: Path) -> None:
    """Stream every rejected row of every scan to `dest` as CSV (masked values only)."""
    try:
        with open(dest, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["audience", "source", "row", "reason", "column", "masked_value"])
            for scan in scans:
                for issue in sorted(scan.issues, key=lambda i: i.row):
                    writer.writerow([scan.audience, scan.source, issue.row, issue.reason,
                                     issue.column or "", issue.masked])
    except OSError as exc:
        raise ConfigError(f"cannot write rejects file {dest}: {exc.strerror or type(exc).__name__}") from None


def _print_json(
    config: Path, declaration: Declaration | None, reports: list[AudienceReport], problems: list[Problem]
) -> None:
    document: dict[str, Any] = {
        "format_version": "1",
        "config": str(config),
        "config_sha256": declaration.sha256 if declaration else None,
        "valid": not problems,
        "audiences": [asdict(r) for r in reports],
        "problems": [asdict(p) for p in problems],
    }
    console.stdout().out(json.dumps(document, indent=2, ensure_ascii=False), highlight=False)


def _print_text(
    config: Path,
    declaration: Declaration,
    reports: list[AudienceReport],
    problems: list[Problem],
    rejects: str | None,
) -> None:
    out = console.stdout()
    out.print(Text(f"{config}: {_plural(len(reports), 'audience')}, sha256 {declaration.sha256}"))
    for report in reports:
        out.print()
        for line in audience_lines(report):
            out.print(line)
    out.print()
    if rejects:
        rejected = sum(r.invalid for r in reports)
        out.print(Text(f"Rejected rows ({rejected:,}) written to {rejects}"))
    if problems:
        out.print(Text(f"Invalid: {_plural(len(problems), 'problem')} (listed on stderr).", style="red"))
    else:
        members = sum(r.members for r in reports)
        out.print(Text(f"Valid: {_plural(len(reports), 'audience')}, {members:,} members.", style="green"))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def audience_lines(report: AudienceReport) -> list[Text]:
    """The text report of one audience (no raw member data: counts and masked samples only)."""
    title = registry.title(report.provider)
    lines = [Text.assemble((report.key, "bold"), f"  {title}  \"{printable(report.name)}\"")]

    def row(label: str, value: str) -> None:
        lines.append(Text(f"  {label:<11}{printable(value)}"))

    row("source", f"{report.source}  sha256 {report.source_sha256 or '-'}")
    if report.source_sha256 is None:
        return lines
    detail = ", ".join(f"{reason} {n:,}" for reason, n in report.invalid_by_reason.items())
    row("rows", f"{report.rows_read:,} read: {report.valid:,} valid, {report.invalid:,} invalid"
        + (f" ({detail})" if detail else ""))
    conflicting = report.conflicting_duplicates
    suffix = f" ({conflicting:,} with conflicting fields)" if conflicting else ""
    row("duplicates", f"{report.duplicates:,}{suffix}")
    row("members", f"{report.members:,}")
    for index, sample in enumerate(report.samples):
        row("invalid" if index == 0 else "", sample)
    if report.upload is not None:
        up = report.upload
        limits = ", ".join(
            f"{limit:,} {unit}" for limit, unit in ((up.max_bytes, "bytes"), (up.max_members, "members"))
            if limit is not None
        )
        row("upload", f"{up.bytes:,} bytes, {up.members:,} members (limits {limits})")
    return lines
