"""The ``typescript`` target: typed registry data plus derive() and check() for a web canvas."""

from __future__ import annotations

import json

from routegate._re2syntax import Untranslatable
from routegate.codes import Code
from routegate.decision import FOREIGN_RUNTIMES
from routegate.errors import GenerationError
from routegate.gen._jsregex import to_javascript
from routegate.gen._render import DERIVE_FAILURE_KINDS
from routegate.gen._render import render as _render_template
from routegate.lifecycle import LifecycleEntry
from routegate.manifest import Manifest, Provider

__all__ = ["MINIMUM_TARGET", "render"]

# The oldest `tsc --target` (with its default lib) the artifact compiles under: it uses
# ReadonlySet and ReadonlyMap and RegExp's u flag (ES2015), and Array.prototype.includes (ES2016).
MINIMUM_TARGET = "ES2016"


def render(manifest: Manifest) -> str:
    providers = [_provider(p) for p in manifest.providers.values()]
    runtimes = [
        {
            "name": runtime.name,
            "arms": [{"provider": arm.provider.name, "models": list(arm.models)} for arm in runtime.arms],
            "menu": list(runtime.menu),
        }
        for runtime in manifest.runtimes.values()
    ]
    return _render_template(
        "routegate.ts.j2",
        schema_version=manifest.schema_version,
        minimum_target=MINIMUM_TARGET,
        fingerprint=manifest.fingerprint,
        providers=_literal(providers),
        runtimes=_literal(runtimes),
        lifecycle=_literal([_dated(entry) for entry in manifest.lifecycle]),
        foreign_runtimes=_literal([name for name in FOREIGN_RUNTIMES if name not in manifest.runtimes]),
        decision_codes=" | ".join(json.dumps(code.value) for code in Code if code.row.model_decision),
        derive_failure_kinds=" | ".join(json.dumps(kind) for kind in DERIVE_FAILURE_KINDS),
    )


def _dated(entry: LifecycleEntry) -> dict[str, object]:
    return {
        "model": entry.model,
        "provider": entry.provider,
        "runtimes": list(entry.runtimes),
        "deprecatedOn": None if entry.deprecated_on is None else entry.deprecated_on.isoformat(),
        "retiresOn": None if entry.retires_on is None else entry.retires_on.isoformat(),
        "successor": entry.successor,
    }


def _provider(provider: Provider) -> dict[str, object]:
    try:
        source, flags = to_javascript(provider.model_prefix_match)
    except Untranslatable as error:
        raise GenerationError(
            f"provider '{provider.name}': model_prefix_match {provider.model_prefix_match!r} cannot be "
            f"expressed faithfully as a JavaScript RegExp ({error}). Rewrite the pattern, or do not "
            "generate the typescript target for this manifest",
            provider=provider.name,
            pattern=provider.model_prefix_match,
        ) from None
    return {
        "name": provider.name,
        "displayName": provider.display_name,
        "vendorLogo": provider.vendor_logo,
        "protocol": provider.protocol,
        "authMode": provider.auth_mode,
        "baseUrlTemplate": provider.base_url_template,
        "baseUrlAnthropic": provider.base_url_anthropic,
        "authEnv": list(provider.auth_env),
        "authTokenEnv": provider.auth_token_env,
        "modelPrefixMatch": provider.model_prefix_match,
        "pattern": {"source": source, "flags": flags},
        "modelAliases": list(provider.model_aliases),
        "deprecated": provider.deprecated,
        "upstreamVendor": provider.upstream_vendor,
        "platformKeyed": provider.platform_keyed,
    }


def _literal(value: object) -> str:
    # JSON is a TypeScript expression; ASCII-only so no U+2028 or lone surrogate reaches the source.
    return json.dumps(value, indent=2, ensure_ascii=True)
