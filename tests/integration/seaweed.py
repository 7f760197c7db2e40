"""A SeaweedFS of a test's own, started with deploy/seaweedfs.sh (as `make services-up`
does) on free ports and in a temp directory, so a test may kill it without disturbing
the server the rest of the suite uses."""

import os
import random
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration import procs

# The ports seaweedfs.sh uses for S3_PORT=8333; another S3_PORT shifts them all alike.
PORTS_AT_8333 = (8333, 9333, 19333, 8080, 18080, 8888, 18888, 18333)
CREDENTIALS = {
    "S3_BUCKET": "pixtier",
    "S3_ACCESS_KEY_ID": "pixtier",
    "S3_SECRET_ACCESS_KEY": "pixtier-secret",
}


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_s3_port() -> int:
    """An S3 port whose whole SeaweedFS port set is free; below the ephemeral range, so
    no outgoing connection takes one of them meanwhile."""
    for _ in range(100):
        offset = random.randrange(1000, 6000)
        if all(_bindable(port + offset) for port in PORTS_AT_8333):
            return 8333 + offset
    raise RuntimeError("no free port set for SeaweedFS")


@dataclass
class Seaweed:
    port: int
    directory: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_env(self) -> dict[str, str]:
        """The variables Pixtier needs to use this server."""
        return {**CREDENTIALS, "S3_ENDPOINT_URL": self.endpoint}

    def script(self, command: str) -> None:
        """deploy/seaweedfs.sh up|down for this server."""
        env = {
            **os.environ,
            **CREDENTIALS,
            "S3_PORT": str(self.port),
            "SEAWEED_DIR": str(self.directory),
            "WEED": str(procs.BIN / "weed"),
        }
        subprocess.run(
            [str(procs.REPO / "deploy" / "seaweedfs.sh"), command],
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
        )

    def kill(self) -> None:
        """SIGKILL, as a crash would; the pid file goes too, so that ``up`` starts afresh
        even before the dead process is reaped."""
        pid_file = self.directory / "weed.pid"
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        pid_file.unlink()


@contextmanager
def seaweedfs(directory: Path) -> Iterator[Seaweed]:
    server = Seaweed(port=free_s3_port(), directory=directory)
    try:
        server.script("up")
        yield server
    finally:
        server.script("down")
