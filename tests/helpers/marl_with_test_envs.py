"""The `marl` command with the test environments registered, for tests that need a separate process."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import toy_env  # noqa: E402

from marl.running.cli import main  # noqa: E402

toy_env.register()
main()
