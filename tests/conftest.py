import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402
import torch  # noqa: E402
import toy_env  # noqa: E402

# the contract's test environment is registered like any third-party one, so every test that runs over
# "all registered environments" covers it too
toy_env.register()


@pytest.fixture(autouse=True)
def _grad_mode_is_left_on():
    """A test that leaves autograd switched off would break every later test that trains: fail it instead."""
    yield
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        pytest.fail("this test left torch's grad mode disabled")
