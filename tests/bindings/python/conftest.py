"""Fixtures of the Python binding tests: the generated module, and a real server."""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, os.environ.get("KEUKENTAFEL_PYTHON_BINDINGS", str(ROOT / "target/bindings/python")))


@pytest.fixture()
def team(tmp_path):
    """A server with a team; yields (url, {name: enrolment code}). Stopped afterwards."""
    proc = subprocess.Popen(
        ["bash", str(ROOT / "tests/bindings/team-server.sh"), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    codes, url = {}, None
    # Bounded: the server prints its address within a few lines, or the test fails.
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            if line.startswith("code "):
                _, name, code = line.split()
                codes[name] = code
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
                break
    finally:
        timer.cancel()
    assert url, "the server did not start"
    # Drain its output so that it never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    yield url, codes
    proc.terminate()
    proc.wait(timeout=30)
