"""The service as gunicorn serves it (``make demo``, README's production command), with the
settings of ``gunicorn.conf.py``."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthz(port: int, timeout: float) -> float:
    """Seconds /healthz took to answer 200."""
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as response:
        assert response.status == 200
    return time.monotonic() - started


def test_a_slow_upload_does_not_hold_up_the_service(tmp_path):
    """A photo coming over a village's mobile link takes a minute to arrive. Before, a sync
    worker read it alone: one worker (two with ``make demo``) answered nothing else meanwhile,
    not even /healthz, and the upload was killed at 30 s."""
    port = free_port()
    env = {**os.environ, "GRIDGOV_INSTANCE_PATH": str(tmp_path / "instance"),
           "GRIDGOV_DATABASE_URL": f"sqlite:///{tmp_path / 'gridgov.sqlite'}"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
                               "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                healthz(port, timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        # A body that arrives slowly: a tenth of it now, the rest (never) later. Signing in reads
        # its body before anything else.
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: gridgov\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b" " * 100)
            time.sleep(0.5)  # the worker is reading it
            assert healthz(port, timeout=10) < 5
    finally:
        server.terminate()
        server.wait(timeout=30)
