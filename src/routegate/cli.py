"""The ``routegate`` command.

Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input.
``--json`` prints machine output on stdout; without it, text for people,
coloured on a terminal. Imports are deferred to the command that needs them,
so a one-shot ``routegate check`` stays cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from routegate.errors import InvalidManifest, UnknownRuntime
    from routegate.manifest import Manifest
    from routegate.proof._budget import Budget
    from routegate.registry import Registry

EXIT_OK, EXIT_NO, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2."""

    def __init__(self, message: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.payload = payload or {"error": "usage", "message": message}


class Output:
    """Writes a command's answer as JSON or as (optionally coloured) text."""

    _COLOURS: Mapping[str, str] = MappingProxyType({"ok": "32", "no": "31", "warn": "33", "dim": "2", "bold": "1"})

    def __init__(self, as_json: bool, stream: Any = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.colour = not as_json and self.stream.isatty() and "NO_COLOR" not in os.environ

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{self._COLOURS[style]}m{text}\x1b[0m" if self.colour else text

    def json(self, payload: object) -> None:
        json.dump(payload, self.stream, indent=2, ensure_ascii=False)
        self.stream.write("\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")


def _manifest(args: argparse.Namespace, *, cached: bool = False) -> Manifest:
    """The manifest a command works on, validated; unreadable or invalid input is a usage error (exit 2).

    ``cached`` reuses an authenticated earlier validation of the same bytes: only for the
    one-shot decision commands, never for the gates (lint, drift, gen), which always validate.
    """
    from routegate.errors import InvalidManifest
    from routegate.manifest import load_manifest

    try:
        return load_manifest(args.manifest, cached=cached)
    except InvalidManifest as error:
        raise _invalid_input(error) from None


def _invalid_input(error: InvalidManifest) -> UsageError:
    return UsageError(
        str(error),
        {
            "error": "invalid_manifest",
            "message": f"{error.source}: the manifest cannot be used; run 'routegate lint' for details",
            "problems": [{"where": p.where, "message": p.message} for p in error.problems],
        },
    )


def _registry(args: argparse.Namespace) -> Registry:
    from routegate.decision import FOREIGN_RUNTIMES
    from routegate.registry import Registry

    return Registry(
        _manifest(args, cached=True), foreign_runtimes=getattr(args, "foreign_runtime", None) or FOREIGN_RUNTIMES
    )


def _env_name(value: str) -> str:
    """``--auth-env`` takes a NAME. The value is not repeated in the error: it may be a pasted key."""
    from routegate._ids import ENV_NAME

    if not ENV_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "takes an env var NAME such as OPENAI_API_KEY (A-Z, 0-9 and _, not starting with a digit), "
            "never a value; the value given is not shown because it may be a secret"
        )
    return value


# --- commands ------------------------------------------------------------------------------


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import InvalidManifest, UnreadableManifest
    from routegate.manifest import load_manifest

    budget_flags = args.max_states is not None or args.time_budget is not None
    if (args.strict or args.allow_catalog_overlap or budget_flags) and not args.prove:
        raise UsageError(
            "--strict, --allow-catalog-overlap, --max-states and --time-budget only apply to --prove; add --prove"
        )
    try:
        manifest = load_manifest(args.manifest)
    except UnreadableManifest as error:
        raise _invalid_input(error) from None
    except InvalidManifest as error:
        if out.as_json:
            out.json({"ok": False, "problems": [{"where": p.where, "message": p.message} for p in error.problems]})
        else:
            out.line(out.paint(f"{error.source}: {len(error.problems)} problem(s)", "no"))
            for problem in error.problems:
                out.line(f"  {out.paint(problem.where, 'bold')}: {problem.message}")
        return EXIT_NO
    if args.prove:
        return _lint_prove(manifest, args, out)
    if out.as_json:
        out.json({"ok": True, "problems": [], "fingerprint": manifest.fingerprint})
    else:
        out.line(
            out.paint("ok", "ok") + f" {manifest.source}: {len(manifest.providers)} providers, "
            f"{len(manifest.runtimes)} runtimes, fingerprint {manifest.fingerprint}"
        )
    return EXIT_OK


def _lint_prove(manifest: Manifest, args: argparse.Namespace, out: Output) -> int:
    """Pattern overlap proofs. Any overlap fails; catalog-scope ones are information with --allow-catalog-overlap."""
    from routegate.proof.overlaps import Scope, prove

    report = prove(manifest, _budget(args))
    failed = report.failed(strict=args.strict, allow_catalog_overlap=args.allow_catalog_overlap)
    if out.as_json:
        out.json(
            {
                "ok": not failed,
                "problems": [],
                "fingerprint": manifest.fingerprint,
                "strict": args.strict,
                **report.to_dict(),
            }
        )
        return EXIT_NO if failed else EXIT_OK
    for overlap in report.overlaps:
        informational = overlap.scope != Scope.RUNTIME and args.allow_catalog_overlap
        where = f"runtime {overlap.runtime}" if overlap.scope == Scope.RUNTIME else "catalog"
        style = "warn" if informational else "no"
        a, b = overlap.providers
        out.line(out.paint("overlap", style) + f" [{where}] {a} and {b} both match {overlap.witness!r}")
    for item in report.unproven:
        where = f"runtime {item.runtime}" if item.scope == Scope.RUNTIME else "catalog"
        label = out.paint("unproven", "no" if args.strict else "warn")
        out.line(f"{label} [{where}] {' and '.join(item.providers)}: {item.reason}")
    for shared in report.shared_ids:
        listed = f"  info [runtime {shared.runtime}] {shared.id} is listed by {', '.join(shared.providers)}"
        out.line(out.paint(listed, "dim"))
    summary = ", ".join(f"{report.disjoint[s]}/{report.pairs[s]} {s} pairs proven disjoint" for s in report.pairs)
    out.line((out.paint("failed", "no") if failed else out.paint("ok", "ok")) + f" {manifest.source}: {summary}")
    return EXIT_NO if failed else EXIT_OK


def _budget(args: argparse.Namespace) -> Budget:
    """The prover's budget from ``--max-states`` and ``--time-budget`` (defaults where not given)."""
    from routegate.proof._budget import Budget

    default = Budget()
    try:
        return Budget(
            default.states if args.max_states is None else args.max_states,
            default.seconds if args.time_budget is None else args.time_budget,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None


def _prover_budget_flags(p: argparse.ArgumentParser) -> None:
    from routegate.proof._budget import DEFAULT_BUDGET  # light: the budget, not the automata

    p.add_argument(
        "--max-states",
        type=int,
        metavar="N",
        help="automaton and product states the whole run may make, shared fairly among its questions; "
        f"past its share a question is unproven (default: {DEFAULT_BUDGET.states:,})",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help=f"seconds the whole run may take, shared likewise (default: {DEFAULT_BUDGET.seconds:g})",
    )


def cmd_derive(args: argparse.Namespace, out: Output) -> int:
    from routegate.billing import billing_mode_for
    from routegate.errors import DeriveError, UnknownRuntime

    registry = _registry(args)
    try:
        derivation = registry.derivation(args.runtime, args.model, args.auth_env)
    except DeriveError as error:
        payload = {"error": error.kind, "message": str(error), "candidates": list(error.candidates)}
        if isinstance(error, UnknownRuntime):
            payload["nearest_runtimes"] = list(error.nearest)
        if out.as_json:
            out.json(payload)
        else:
            out.line(out.paint(f"{error.kind}: ", "no") + str(error))
        if args.explain and not out.as_json:
            _print_steps(registry, args, out)
        return EXIT_NO
    provider = derivation.provider
    payload = {
        "runtime": args.runtime,
        "model": args.model.strip(),
        "provider": provider.name,
        "billing_mode": billing_mode_for(provider.name).value,
        "step": derivation.step,
    }
    if args.explain:
        payload["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env).steps)
    if out.as_json:
        out.json(payload)
    else:
        out.line(f"{out.paint(provider.name, 'ok')} ({payload['billing_mode']}, step: {derivation.step})")
        if args.explain:
            _print_steps(registry, args, out)
    return EXIT_OK


def _print_steps(registry: Registry, args: argparse.Namespace, out: Output) -> None:
    for number, step in enumerate(registry.explain(args.runtime, args.model, args.auth_env).steps, 1):
        out.line(out.paint(f"  {number}. ", "dim") + step)


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    registry = _registry(args)
    decision = registry.check(args.runtime, args.model, args.auth_env)
    if out.as_json:
        payload = decision.to_dict()
        if args.explain:
            payload["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env).steps)
        out.json(payload)
    else:
        answer = decision.to_dict()
        if decision.allowed:
            who = f" -> {answer['provider']} ({answer['billing_mode']})" if decision.provider else ""
            out.line(out.paint("allowed", "ok") + f" [{answer['path']}]{who}")
            if decision.required_env:
                out.line(f"  needs one of: {', '.join(decision.required_env)}")
        else:
            out.line(out.paint(f"rejected {answer['code']}", "no"))
        out.line(f"  {decision.reason}")
        if args.explain:
            _print_steps(registry, args, out)
    return EXIT_OK if decision.allowed else EXIT_NO


def cmd_upstream(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import NotNamespaced

    registry = _registry(args)
    try:
        upstream = registry.upstream(args.model)
    except NotNamespaced as error:
        if out.as_json:
            out.json({"error": "not_namespaced", "message": str(error)})
        else:
            out.line(out.paint("not namespaced: ", "no") + str(error))
        return EXIT_NO
    payload = {
        "vendor": upstream.vendor,
        "model": upstream.model,
        "provider": upstream.provider.name,
        "base_url": upstream.provider.base_url_template,
    }
    if out.as_json:
        out.json(payload)
    else:
        base_url = payload["base_url"] or "SDK default"
        out.line(f"{upstream.vendor} / {upstream.model} via {upstream.provider.name} ({base_url})")
    return EXIT_OK


def _unknown_runtime(error: UnknownRuntime, out: Output) -> int:
    message = str(error)
    if out.as_json:
        out.json({"error": "unknown_runtime", "message": message})
    else:
        out.line(out.paint("unknown runtime: ", "no") + message)
    return EXIT_NO


def cmd_models(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import UnknownRuntime

    registry = _registry(args)
    try:
        entries = registry.menu_entries(args.runtime)
    except UnknownRuntime as error:
        return _unknown_runtime(error, out)
    if out.as_json:
        out.json(
            {
                "runtime": args.runtime,
                "menu": [
                    {"id": e.id, "provider": e.provider.name, "billing_mode": e.billing_mode.value} for e in entries
                ],
            }
        )
    else:
        width = max((len(e.id) for e in entries), default=0)
        for entry in entries:
            out.line(f"{entry.id:<{width}}  {entry.provider.name}  {out.paint(entry.billing_mode.value, 'dim')}")
    return EXIT_OK


def cmd_providers(args: argparse.Namespace, out: Output) -> int:
    from routegate.errors import UnknownRuntime

    registry = _registry(args)
    try:
        arms = registry.arms(args.runtime)
    except UnknownRuntime as error:
        return _unknown_runtime(error, out)
    rows = [
        {
            "name": arm.provider.name,
            "display_name": arm.provider.display_name,
            "routing_only": arm.routing_only,
            "model_prefix_match": arm.provider.model_prefix_match,
            "platform_keyed": arm.provider.platform_keyed,
        }
        for arm in arms
    ]
    if out.as_json:
        out.json({"runtime": args.runtime, "providers": rows})
    else:
        width = max(len(arm.provider.name) for arm in arms)
        for row in rows:
            kind = "routing-only" if row["routing_only"] else "menu"
            keyed = out.paint(" platform-keyed", "warn") if row["platform_keyed"] else ""
            out.line(f"{row['name']:<{width}}  {kind:<12}  {row['model_prefix_match']}{keyed}")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, out: Output) -> int:
    from routegate.drift import drift
    from routegate.errors import InvalidTemplate, TemplateNotFound
    from routegate.registry import Registry
    from routegate.templates import find_templates, load_template

    registry = Registry(_manifest(args))
    try:
        configs = [config for path in args.paths for config in find_templates(path)]
        templates = _map_with_progress(load_template, configs, "reading templates")
    except (InvalidTemplate, TemplateNotFound) as error:
        raise UsageError(str(error), {"error": "unreadable_template", "message": str(error)}) from None
    reports = [drift(registry, template) for template in templates]
    if out.as_json:
        out.json({"manifest_fingerprint": registry.fingerprint, "templates": [r.to_dict() for r in reports]})
    else:
        out.line(f"{'template':<16} {'runtime':<14} {'offered':>7} {'routable':>8} {'residual':>8}")
        for report in reports:
            style = "ok" if not report.residual else "no"
            out.line(
                f"{report.template.name:<16} {report.template.runtime or '-':<14} {report.offered:>7} "
                f"{report.routable:>8} " + out.paint(f"{len(report.residual):>8}", style)
            )
            for residual in report.residual:
                out.line(out.paint(f"    {residual.id}  {residual.code}", "dim"))
            if report.default_routable is False:
                out.line(out.paint(f"    default model {report.template.default_model} does not route", "no"))
        out.line(out.paint(f"manifest fingerprint {registry.fingerprint}", "dim"))
    drifted = any(r.residual or r.default_routable is False for r in reports)
    return EXIT_NO if drifted and not args.report_only else EXIT_OK


def cmd_gen(args: argparse.Namespace, out: Output) -> int:
    from routegate.gen import GenerationError, InvalidPackageName, generate

    if args.package is not None and args.target != "go":
        raise UsageError(f"--package names the Go package; it applies to --target go only, not {args.target}")
    manifest = _manifest(args)
    try:
        text = generate(manifest, args.target, package=args.package)
    except InvalidPackageName as error:
        raise UsageError(str(error)) from None
    except GenerationError as error:
        if out.as_json:
            out.json(
                {
                    "ok": False,
                    "error": "generation_failed",
                    "message": str(error),
                    "provider": error.provider,
                    "pattern": error.pattern,
                }
            )
        else:
            out.line(out.paint("cannot generate: ", "no") + str(error))
        return EXIT_NO
    if args.check is not None:
        return _gen_check(manifest, text, args, out)
    if args.output is None:
        out.stream.write(text)
        return EXIT_OK
    from pathlib import Path

    target = Path(args.output)
    try:
        partial = target.with_name(f".{target.name}.tmp")
        partial.write_bytes(text.encode("utf-8"))
        partial.replace(target)
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    if out.as_json:
        out.json({"ok": True, "target": args.target, "path": str(target), "fingerprint": manifest.fingerprint})
    return EXIT_OK


def _gen_check(manifest: Manifest, text: str, args: argparse.Namespace, out: Output) -> int:
    """gen --check: a missing or different file is stale (1); an unreadable one is a usage error (2)."""
    from pathlib import Path

    from routegate.gen import recorded_fingerprint, staleness

    target = Path(args.check)
    import shlex

    from_manifest = f" --manifest {shlex.quote(args.manifest)}" if args.manifest else ""
    package = f" --package {shlex.quote(args.package)}" if args.package is not None else ""
    regenerate = f"routegate gen --target {args.target}{package}{from_manifest} -o {shlex.quote(str(target))}"
    try:
        committed: bytes | None = target.read_bytes()
    except FileNotFoundError:
        committed = None
    except OSError as error:
        message = f"cannot read {target}: {error.strerror or error}"
        raise UsageError(message, {"error": "unreadable", "message": message}) from None
    if committed is None:
        summary, recorded = [f"{target} does not exist; run: {regenerate}"], None
    else:
        summary, recorded = staleness(text, committed, label=str(target)), recorded_fingerprint(committed)
    if out.as_json:
        out.json(
            {
                "ok": not summary,
                "target": args.target,
                "path": str(target),
                "fingerprint": manifest.fingerprint,
                "recorded_fingerprint": recorded,
                "diff": summary,
            }
        )
    elif summary:
        was = f", {target} was generated from {recorded}" if recorded and recorded != manifest.fingerprint else ""
        out.line(
            out.paint(f"stale: {target}", "no")
            + f" (manifest fingerprint {manifest.fingerprint}{was}); regenerate with: {regenerate}"
        )
        for line in summary:
            out.line(f"  {line}")
    else:
        out.line(out.paint("fresh", "ok") + f" {target} (fingerprint {manifest.fingerprint})")
    return EXIT_NO if summary else EXIT_OK


def cmd_sync_check(args: argparse.Namespace, out: Output) -> int:
    from routegate.sync import UnreadableCopy, sync_check

    if len(args.files) > 2:
        raise UsageError("give CANONICAL COPY, or COPY --pin SHA256: at most two files")
    if len(args.files) == 1 and args.pin is None:
        raise UsageError("with one file, give --pin SHA256 (or pass CANONICAL COPY)")
    canonical, copy = (None, args.files[0]) if len(args.files) == 1 else args.files
    try:
        result = sync_check(copy, canonical, pin=args.pin)
    except UnreadableCopy as error:
        raise UsageError(str(error), {"error": "unreadable", "message": str(error)}) from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if out.as_json:
        out.json(result.to_dict())
        return EXIT_OK if result.ok else EXIT_NO
    if result.ok:
        checks = [f"equal to {result.canonical}"] if result.equal else []
        checks += ["matches the pin"] if result.pin_matches else []
        out.line(out.paint("in sync", "ok") + f" {result.copy}: {' and '.join(checks)} (sha256 {result.copy_sha256})")
        return EXIT_OK
    out.line(out.paint(f"out of sync: {result.copy}", "no"))
    if result.canonical is not None:
        out.line(f"  canonical {result.canonical}  sha256 {result.canonical_sha256}")
    if result.pin is not None:
        out.line(f"  pinned     sha256 {result.pin}" + ("" if result.pin_matches else "  (does not match)"))
    out.line(f"  copy      {result.copy}  sha256 {result.copy_sha256}")
    diff = result.difference
    if diff is not None:
        out.line(f"  first difference at line {diff.line}:")
        out.line(f"    canonical: {diff.canonical if diff.canonical is not None else '<end of file>'}")
        out.line(f"    copy:      {diff.copy if diff.copy is not None else '<end of file>'}")
    return EXIT_NO


def cmd_diff(args: argparse.Namespace, out: Output) -> int:
    """Every change class a manifest edit makes, proven over all model ids; risky kinds fail."""
    from routegate.errors import InvalidManifest, InvalidTemplate, TemplateNotFound
    from routegate.manifest import load_manifest, parse_manifest
    from routegate.proof.diff import ChangeKind, diff
    from routegate.registry import Registry
    from routegate.templates import find_templates, load_template

    if args.old == "-" and args.new == "-":
        raise UsageError("only one of OLD and NEW can be read from standard input ('-')")
    try:
        fail_on = {ChangeKind(kind.strip()) for kind in args.fail_on.split(",") if kind.strip()}
    except ValueError:
        raise UsageError(f"--fail-on takes kinds among {', '.join(ChangeKind)}, comma-separated") from None
    registries = []
    for path in (args.old, args.new):
        try:
            manifest = parse_manifest(sys.stdin.read(), source="<stdin>") if path == "-" else load_manifest(path)
        except InvalidManifest as error:
            raise _invalid_input(error) from None
        registries.append(Registry(manifest))
    templates = []
    if args.templates is not None:
        try:
            templates = [load_template(config) for config in find_templates(args.templates)]
        except (InvalidTemplate, TemplateNotFound) as error:
            raise UsageError(str(error), {"error": "unreadable_template", "message": str(error)}) from None
    old, new = registries
    result = diff(old, new, args.auth_env, budget=_budget(args), templates=templates)
    failed = result.failed(fail_on, strict=args.strict)
    if out.as_json:
        out.json(result.to_dict())
    elif args.format == "markdown":
        out.line(result.to_markdown())
    else:
        out.line(f"{args.old} ({result.old_fingerprint}) -> {args.new} ({result.new_fingerprint})")
        for label, added, removed in (
            ("runtimes", result.runtimes_added, result.runtimes_removed),
            ("providers", result.providers_added, result.providers_removed),
        ):
            for name in added:
                out.line(f"  {label} + {name}")
            for name in removed:
                out.line(f"  {label} - {name}")
        for provider in result.providers_changed:
            out.line(f"  providers ~ {provider.name}: {', '.join(provider.fields)}")
        runtime = None
        for change in result.changes:
            if change.runtime != runtime:
                runtime = change.runtime
                out.line(out.paint(f"runtime {runtime}", "bold"))
            style = "no" if change.kind in fail_on else "warn"
            listed = f"  ({len(change.ids)} menu id(s): {', '.join(change.ids)})" if change.ids else ""
            more = "  (and ids beyond the menus)" if change.ids and change.by_pattern else ""
            out.line(
                f"  {out.paint(f'{change.kind:<16}', style)} {change.witness!r}: {change.old} -> {change.new}"
                + listed
                + more
            )
        for item in result.templates:
            out.line(f"  template {item.template}: {item.id!r} {item.kind}: {item.old} -> {item.new}")
        for gap in result.unproven:
            out.line(out.paint("unproven", "no" if args.strict else "warn") + f" [runtime {gap.runtime}] {gap.reason}")
        verdict = out.paint("failed", "no") if failed else out.paint("ok", "ok")
        proof = "proven over every id" if result.proven else "NOT proven (see unproven)"
        out.line(f"{verdict}: {len(result.changes)} change class(es), {proof}")
    return EXIT_NO if failed else EXIT_OK


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
# Fewer items than this are done before anyone would look for a progress line.
_PROGRESS_FROM = 20


def _map_with_progress(function: Callable[[_Item], _Result], items: Sequence[_Item], label: str) -> list[_Result]:
    """``function`` over ``items``, counting them on one stderr line when a person watches many.

    The line is rewritten in place and erased when done (or when ``function`` raises, before
    the error is reported), so redirected output never sees it and a terminal is left clean.
    """
    if len(items) < _PROGRESS_FROM or not sys.stderr.isatty():
        return [function(item) for item in items]
    results: list[_Result] = []
    try:
        for item in items:
            sys.stderr.write(f"\r{label}: {len(results)}/{len(items)}")
            sys.stderr.flush()
            results.append(function(item))
    finally:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
    return results


def _require_service_extra(command: str) -> None:
    """A usage error naming what to install unless the service extra imports.

    The core installs without FastAPI, uvicorn, SQLAlchemy and the rest: without them every
    command registered with ``needs_service`` says what to install (exit 2) rather than end
    in a traceback. :func:`main` calls this before the command's handler.
    """
    try:
        import alembic  # noqa: F401  (each is needed later; importing them now names the missing one)
        import psycopg  # noqa: F401
        import uvicorn  # noqa: F401

        from routegate.service import app  # noqa: F401
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] == "routegate":
            raise
        message = (
            f"'routegate {command}' needs the service extra, and {error.name!r} is not installed: "
            "in a routegate checkout run 'make setup', or pip install './routegate[service]'"
        )
        raise UsageError(message, {"error": "missing_extra", "extra": "service", "message": message}) from None


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from routegate.service.server import serve_command

    return serve_command(args)


def cmd_db(args: argparse.Namespace, out: Output) -> int:
    from routegate.service.server import db_upgrade_command

    return db_upgrade_command(args)


def cmd_publish(args: argparse.Namespace, out: Output) -> int:
    from routegate.service.version_commands import publish_command

    return publish_command(args)


def cmd_versions(args: argparse.Namespace, out: Output) -> int:
    from routegate.service.version_commands import versions_command

    return versions_command(args)


def cmd_activate(args: argparse.Namespace, out: Output) -> int:
    from routegate.service.version_commands import activate_command

    return activate_command(args)


# --- wiring ---------------------------------------------------------------------------------


class _Version(argparse.Action):
    """``--version``: reads the installed version only when asked, so other commands skip the metadata lookup."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from routegate._version import version

        sys.stdout.write(f"routegate {version()}\n")
        parser.exit()


Command = Callable[[argparse.Namespace, Output], int]


_SERVE_ENVIRONMENT = """\
environment (a flag, when given, wins):
  ROUTEGATE_DATABASE_URL      database URL, as --database-url
  ROUTEGATE_MANIFEST          manifest file, as --manifest
  ROUTEGATE_TEMPLATES         templates folder, as --templates
  ROUTEGATE_API_TOKEN         bearer token the API and console require; without one, loopback only
  ROUTEGATE_DEFAULT_RUNTIME   runtime of workspaces that name none, as --default-runtime
  ROUTEGATE_FOREIGN_RUNTIMES  comma-separated runtimes the registry does not describe, as --foreign-runtime
  ROUTEGATE_MANIFEST_POLL_SECONDS  how often to look for a newly active manifest version (default 0.5)
  ROUTEGATE_TEMPLATE_MAX_BYTES    largest template config.yaml read, as --template-max-bytes
  ROUTEGATE_TEMPLATE_MAX_MODELS   most models one template may offer, as --template-max-models"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--manifest", metavar="PATH", help="manifest file (default: the bundled reference registry)")
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    parser = argparse.ArgumentParser(
        prog="routegate",
        description="Model-routing registry and workspace-create gate.",
        epilog="Exit codes: 0 yes/ok, 1 no/problems found, 2 usage or unreadable input.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Command, help_text: str, *, needs_service: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler, needs_service=needs_service)
        return p

    def auth_env(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--auth-env",
            metavar="NAME",
            action="append",
            default=[],
            type=_env_name,
            help="an env var NAME the workspace has (repeatable); settles ties",
        )

    def decision_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("runtime")
        p.add_argument("model")
        auth_env(p)
        p.add_argument(
            "--foreign-runtime",
            metavar="NAME",
            action="append",
            help="a runtime the registry does not describe, where any model is admitted "
            "(repeatable; default: external, langgraph); any other unknown runtime is refused",
        )
        p.add_argument("--explain", action="store_true", help="show the steps taken")

    p = command("lint", cmd_lint, "validate the manifest against every load rule")
    p.add_argument("--prove", action="store_true", help="prove no two native providers' patterns match one model id")
    p.add_argument("--strict", action="store_true", help="with --prove: a pair the prover cannot decide is an error")
    p.add_argument(
        "--allow-catalog-overlap",
        action="store_true",
        help="with --prove: overlaps between providers no runtime combines are information, not failures",
    )
    _prover_budget_flags(p)

    decision_options(command("derive", cmd_derive, "which provider serves MODEL on RUNTIME"))
    decision_options(command("check", cmd_check, "the create gate's decision for MODEL on RUNTIME"))

    p = command("upstream", cmd_upstream, "where the platform's LLM proxy sends MODEL")
    p.add_argument("model")

    p = command("models", cmd_models, "the menu of RUNTIME, with provider and billing")
    p.add_argument("runtime")

    p = command("providers", cmd_providers, "the native providers of RUNTIME")
    p.add_argument("runtime")

    p = command("drift", cmd_drift, "models templates offer that their runtime cannot route")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a template folder, a folder of them, or a config.yaml")
    p.add_argument("--report-only", action="store_true", help="exit 0 even when something drifts")

    p = command("gen", cmd_gen, "generate the registry for another language, or check a generated file")
    p.add_argument("--target", required=True, choices=("typescript", "python", "go", "jsonschema"))
    p.add_argument("--package", metavar="NAME", help="with --target go: the Go package name (default routegate)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="PATH", help="write here (default: stdout)")
    where.add_argument("--check", metavar="PATH", help="exit 1 with a diff summary when PATH is stale")

    p = command("sync-check", cmd_sync_check, "is COPY the canonical manifest byte for byte (or its pinned sha256)")
    p.add_argument("files", nargs="+", metavar="FILE", help="CANONICAL COPY, or COPY alone with --pin")
    p.add_argument("--pin", metavar="SHA256", help="the sha256 COPY must have")

    p = sub.add_parser(
        "diff",
        help="what a manifest edit changes: every model id's decision and who pays, proven",
        description="Every change class between two manifests, each with a witness id check() confirms. "
        "Exit 1 when a change is of a kind in --fail-on.",
    )
    p.set_defaults(handler=cmd_diff, needs_service=False)
    p.add_argument("old", metavar="OLD", help="the manifest before the edit ('-': standard input)")
    p.add_argument("new", metavar="NEW", help="the manifest after the edit ('-': standard input)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="text, or a pull-request table")
    auth_env(p)
    p.add_argument(
        "--fail-on",
        metavar="KINDS",
        default="to_platform,lost",
        help="comma-separated kinds that exit 1 (default to_platform,lost; '' never fails)",
    )
    p.add_argument("--templates", metavar="DIR", help="also list each template model whose decision changes")
    p.add_argument("--strict", action="store_true", help="ids the prover could not decide exactly also exit 1")
    _prover_budget_flags(p)

    p = command(
        "serve",
        cmd_serve,
        "run the HTTP service (defaults: 127.0.0.1:8080, ./routegate.db, bundled data)",
        needs_service=True,
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _SERVE_ENVIRONMENT
    p.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1; ::1 or [::1] for IPv6; others need ROUTEGATE_API_TOKEN)",
    )
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument(
        "--database-url", metavar="URL", help="sqlite:///file.db or postgresql://... (env ROUTEGATE_DATABASE_URL)"
    )
    p.add_argument("--templates", metavar="DIR", help="templates folder (env ROUTEGATE_TEMPLATES; default: bundled)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="json: one JSON object per log line")
    p.add_argument(
        "--default-runtime", metavar="NAME", help="runtime for workspaces that name none (default claude-code)"
    )
    p.add_argument(
        "--foreign-runtime",
        metavar="NAME",
        action="append",
        help="a runtime the registry does not describe (repeatable; default: external, langgraph)",
    )
    p.add_argument(
        "--template-max-bytes",
        type=int,
        metavar="N",
        help="a larger template config.yaml is a problem (default 262144)",
    )
    p.add_argument(
        "--template-max-models", type=int, metavar="N", help="most models one template offers (default 1000)"
    )

    p = command("db", cmd_db, "manage the service database", needs_service=True)
    p.add_argument("action", choices=("upgrade",), help="upgrade: apply every pending migration")
    p.add_argument("--database-url", metavar="URL", help="default: ROUTEGATE_DATABASE_URL, else ./routegate.db")

    database_url = "database to use (default: ROUTEGATE_DATABASE_URL, else ./routegate.db)"
    dry_run = "report the impact and change nothing; exits 1 when the real command would be refused"
    p = command(
        "publish",
        cmd_publish,
        "publish FILE as the fleet's active manifest, through the publish gate",
        needs_service=True,
    )
    p.add_argument("file", metavar="FILE", help="the manifest to publish")
    p.add_argument("--database-url", metavar="URL", help=database_url)
    p.add_argument("--note", help="why this version (kept in its history)")
    p.add_argument("--dry-run", action="store_true", help=dry_run)
    p.add_argument("--force", action="store_true", help="publish even if stored workspaces would be stranded")

    p = command(
        "versions", cmd_versions, "the manifest versions in the database, newest first (* active)", needs_service=True
    )
    p.add_argument("--database-url", metavar="URL", help=database_url)

    p = command(
        "activate",
        cmd_activate,
        "make a stored manifest VERSION active again (rollback or roll forward)",
        needs_service=True,
    )
    p.add_argument("version", type=int, metavar="VERSION")
    p.add_argument("--database-url", metavar="URL", help=database_url)
    p.add_argument("--dry-run", action="store_true", help=dry_run)
    p.add_argument("--force", action="store_true", help="activate even if stored workspaces would be stranded")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(getattr(args, "json", False))
    handler: Command = args.handler  # every subcommand sets it: the subparsers are required
    try:
        if args.needs_service:
            _require_service_extra(args.command)
        return handler(args, out)
    except UsageError as error:
        if out.as_json:
            out.json(error.payload)
        else:
            print(f"routegate: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader left before the answer was out: it cannot have read a "yes".
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_NO


if __name__ == "__main__":
    sys.exit(main())
