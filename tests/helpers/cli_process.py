"""The `marl` command in a separate process, with the test environments registered."""

import os
import subprocess
import sys
from pathlib import Path

HELPERS = Path(__file__).resolve().parent


def marl_process(*args: str, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, str(HELPERS / "marl_with_test_envs.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
