"""The questions one model id or runtime asks of the registry: check, derive, upstream, models, providers.

Each is a one-shot process, so each imports what it needs only when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ._common import Exit, Output, Subparsers, add_auth_env, add_command, add_date, registry_from

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from routegate.decision import Decision
    from routegate.errors import DeriveError
    from routegate.registry import Registry

__all__ = ["register"]

_RUNTIME_HELP = "the runtime the workspace runs, as the registry names it (e.g. hermes)"
_MODEL_HELP = "the model id the workspace asks for (e.g. moonshot/kimi-k2.6)"


def _add_decision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runtime", metavar="RUNTIME", help=_RUNTIME_HELP)
    parser.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    add_auth_env(parser)
    add_date(parser)
    parser.add_argument(
        "--foreign-runtime",
        metavar="NAME",
        action="append",
        help="a runtime the registry does not describe, where any model is admitted "
        "(repeatable; default: external, langgraph); any other unknown runtime is refused",
    )
    parser.add_argument("--explain", action="store_true", help="show the steps taken")


def _error_key(error: DeriveError) -> str:
    """The CLI's one spelling of why no provider was named: the decision's refusal code for the same case.

    The library's exceptions carry no key of their own: the CLI owns its vocabulary, in text and JSON alike.
    """
    from routegate.decision import Code
    from routegate.errors import AmbiguousModel, EmptyModel, UnknownRuntime

    if isinstance(error, UnknownRuntime):
        return Code.RUNTIME_UNSUPPORTED.value
    if isinstance(error, EmptyModel):
        return Code.MODEL_REQUIRED.value
    if isinstance(error, AmbiguousModel):
        return Code.AMBIGUOUS_MODEL_FOR_RUNTIME.value
    return Code.UNREGISTERED_MODEL_FOR_RUNTIME.value  # Unroutable: no provider serves the id


def _refusal(error: DeriveError, out: Output) -> int:
    """Reports a question the registry could not answer (exit 1); an unknown runtime names the nearest."""
    from routegate.errors import UnknownRuntime

    key = _error_key(error)
    payload: dict[str, Any] = {"error": key, "message": str(error), "candidates": list(error.candidates)}
    if isinstance(error, UnknownRuntime):
        payload["nearest_runtimes"] = list(error.nearest)
    if out.as_json:
        out.json(payload)
    else:
        out.line(out.paint(f"{key}: ", "no") + str(error))
    return Exit.NO


def _print_steps(registry: Registry, args: argparse.Namespace, out: Output) -> None:
    for number, step in enumerate(registry.explain(args.runtime, args.model, args.auth_env, on=args.on).steps, 1):
        out.line(out.paint(f"  {number}. ", "dim") + step)


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    """The create gate's answer, exactly as a workspace create would get it."""
    registry = registry_from(args)
    decision = registry.check(args.runtime, args.model, args.auth_env, on=args.on)
    answer = decision.to_dict()
    if decision.successor is not None:
        answer["successor"] = decision.successor
    if out.as_json:
        if args.explain:
            answer["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env, on=args.on).steps)
        out.json(answer)
        return Exit.OK if decision.allowed else Exit.NO
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
    return Exit.OK if decision.allowed else Exit.NO


def _register_check(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "check", cmd_check, "the create gate's decision for MODEL on RUNTIME", manifest=True
    )
    _add_decision_options(parser)


def cmd_derive(args: argparse.Namespace, out: Output) -> int:
    """Which provider serves the model, and who pays; a failure names its refusal code."""
    from routegate.billing import billing_mode_for
    from routegate.errors import DeriveError

    registry = registry_from(args)
    try:
        derivation = registry.derivation(args.runtime, args.model, args.auth_env)
    except DeriveError as error:
        code = _refusal(error, out)
        if args.explain and not out.as_json:
            _print_steps(registry, args, out)
        return code
    dated = registry.check(args.runtime, args.model, args.auth_env, on=args.on)
    if not dated.admits_existing:  # retired on that date: no provider serves it any more
        return _lifecycle_refusal(dated, out)
    provider = derivation.provider
    payload: dict[str, Any] = {
        "runtime": args.runtime,
        "model": args.model.strip(),
        "provider": provider.name,
        "billing_mode": billing_mode_for(provider.name).value,
        "step": derivation.step,
    }
    if dated.successor is not None or dated.code is not None:
        payload.update(code=dated.code and dated.code.value, successor=dated.successor, reason=dated.reason)
    if args.explain:
        payload["steps"] = list(registry.explain(args.runtime, args.model, args.auth_env, on=args.on).steps)
    if out.as_json:
        out.json(payload)
    else:
        out.line(f"{out.paint(provider.name, 'ok')} ({payload['billing_mode']}, step: {derivation.step})")
        if dated.code is not None:  # deprecated: it serves existing workspaces, new ones are refused
            out.line(out.paint(f"  {dated.code.value}: ", "warn") + dated.reason)
        if args.explain:
            _print_steps(registry, args, out)
    return Exit.OK


def _lifecycle_refusal(decision: Decision, out: Output) -> int:
    """derive on a date the model is retired: it names no provider, but its successor."""
    code = decision.code.value if decision.code is not None else ""
    if out.as_json:
        out.json({"error": code, "message": decision.reason, "candidates": [], "successor": decision.successor})
    else:
        out.line(out.paint(f"{code}: ", "no") + decision.reason)
    return Exit.NO


def _register_derive(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "derive", cmd_derive, "which provider serves MODEL on RUNTIME", manifest=True)
    _add_decision_options(parser)


def cmd_upstream(args: argparse.Namespace, out: Output) -> int:
    """Where the platform's LLM proxy sends a namespaced id."""
    from routegate.errors import NotNamespaced

    registry = registry_from(args)
    try:
        upstream = registry.upstream(args.model)
    except NotNamespaced as error:
        if out.as_json:
            out.json({"error": "not_namespaced", "message": str(error)})
        else:
            out.line(out.paint("not_namespaced: ", "no") + str(error))
        return Exit.NO
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
    return Exit.OK


def _register_upstream(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "upstream", cmd_upstream, "where the platform's LLM proxy sends MODEL", manifest=True
    )
    parser.add_argument("model", metavar="MODEL", help="a namespaced model id (e.g. moonshot/kimi-k2.6)")


def cmd_models(args: argparse.Namespace, out: Output) -> int:
    """The runtime's menu: each id with its provider and who pays."""
    from routegate.errors import UnknownRuntime

    try:
        entries = registry_from(args).menu_entries(args.runtime)
    except UnknownRuntime as error:
        return _refusal(error, out)
    if out.as_json:
        menu = [{"id": e.id, "provider": e.provider.name, "billing_mode": e.billing_mode.value} for e in entries]
        out.json({"runtime": args.runtime, "menu": menu})
        return Exit.OK
    width = max((len(e.id) for e in entries), default=0)
    for entry in entries:
        out.line(f"{entry.id:<{width}}  {entry.provider.name}  {out.paint(entry.billing_mode.value, 'dim')}")
    return Exit.OK


def _register_models(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "models", cmd_models, "the menu of RUNTIME, with provider and billing", manifest=True
    )
    parser.add_argument("runtime", metavar="RUNTIME", help=_RUNTIME_HELP)


def cmd_providers(args: argparse.Namespace, out: Output) -> int:
    """The runtime's native providers: menu or routing-only, their pattern, and whether the platform pays."""
    from routegate.errors import UnknownRuntime

    try:
        arms = registry_from(args).arms(args.runtime)
    except UnknownRuntime as error:
        return _refusal(error, out)
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
        return Exit.OK
    width = max(len(arm.provider.name) for arm in arms)
    for row in rows:
        kind = "routing-only" if row["routing_only"] else "menu"
        keyed = out.paint(" platform-keyed", "warn") if row["platform_keyed"] else ""
        out.line(f"{row['name']:<{width}}  {kind:<12}  {row['model_prefix_match']}{keyed}")
    return Exit.OK


def _register_providers(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "providers", cmd_providers, "the native providers of RUNTIME", manifest=True)
    parser.add_argument("runtime", metavar="RUNTIME", help=_RUNTIME_HELP)


_REGISTER: Mapping[str, Callable[[Subparsers], None]] = MappingProxyType(
    {
        "check": _register_check,
        "derive": _register_derive,
        "upstream": _register_upstream,
        "models": _register_models,
        "providers": _register_providers,
    }
)


def register(subparsers: Subparsers, command: str) -> None:
    """Adds ``command``, one of this module's, with its options."""
    _REGISTER[command](subparsers)
