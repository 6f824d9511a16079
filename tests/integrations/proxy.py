"""The real LiteLLM proxy as a process: started from this venv on a config, offline, on a free port."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

START_SECONDS = 240  # about 35 s on an idle machine; several engineers share two cores here
MASTER_KEY = "sk-litellm-master-key-for-tests"
PLATFORM_KEYS = {  # the platform's vendor keys, as the proxy's environment holds them
    "ANTHROPIC_API_KEY": "platform-key-anthropic",
    "OPENAI_API_KEY": "platform-key-openai",
    "MOONSHOT_API_KEY": "platform-key-moonshot",
    "MINIMAX_API_KEY": "platform-key-minimax",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proxy:
    """``litellm --config CONFIG [FLAG ...]`` until stopped; its output goes to ``log``."""

    def __init__(self, config: Path, log: Path, *flags: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        litellm = Path(sys.executable).with_name("litellm")
        environment = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOG": "ERROR",
            "DISABLE_ADMIN_UI": "True",
            **PLATFORM_KEYS,
            **env,
        }
        command = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port), *flags]
        with log.open("wb") as output:
            self.process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)

    def wait(self) -> Proxy:
        """Return once the proxy answers HTTP at all (its health routes need a key, routegate's or the master's)."""
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                probe.request("GET", "/health/liveliness")
                probe.getresponse().read()
                return self
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited with {self.process.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the proxy did not answer within {START_SECONDS} s:\n{self.output()}")
            time.sleep(0.25)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
