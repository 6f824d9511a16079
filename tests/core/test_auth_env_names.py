"""``--auth-env`` takes env var names only: a value given in their place exits 2 and is never echoed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate._ids import ENV_NAME
from routegate.cli import main

from .test_cli import run

NOT_NAMES = [
    "sk-live-THIS-IS-A-SECRET-1234",
    "sk-ant-api03-abcdefghijklmnop",
    "openai_api_key",
    "1OPENAI",
    "OPENAI API KEY",
    "OPENAI_API_KEY=sk-123456",
    "MY_TOKEN\n",
    "\u041e\u0420\u0415\u041dAI_KEY",  # Cyrillic look-alike of OPEN
    "",
]


@pytest.mark.parametrize("value", NOT_NAMES)
@pytest.mark.parametrize("command", ["check", "derive"])
def test_auth_env_with_a_value_exits_2_without_echoing_it(command: str, value: str) -> None:
    for args in (["--auth-env", value], [f"--auth-env={value}"]):
        code, out, err = run(command, "--json", "codex", "gpt-5.5", *args)
        assert code == 2
        assert "--auth-env" in err and "NAME" in err
        if value.strip():
            assert value.strip() not in str(out) and value.strip() not in err


SECRET = "sk-proj-Qz81"
"""Marks a value so that an echo of it can be seen in the output."""


@given(
    value=st.one_of(
        st.text(min_size=1, max_size=40).filter(lambda v: not ENV_NAME.fullmatch(v)),
        st.builds(lambda head, tail: head + SECRET + tail, st.text(max_size=15), st.text(max_size=15)),
    )
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_non_name_reaches_a_decision(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "codex", "gpt-5.5", "--auth-env", value])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "--auth-env" in captured.err
    assert SECRET not in captured.out + captured.err
