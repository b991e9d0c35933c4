import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402
import torch  # noqa: E402
import toy_env  # noqa: E402

# the contract's test environment is registered like any third-party one, so every test that runs over
# "all registered environments" covers it too
toy_env.register()

# One intra-op thread per test process: the suite's networks and batches are small, and the suite runs one
# pytest-xdist worker per core, whose thread pools would otherwise spin against each other (on a busy machine
# that made single tests tens of times slower)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _grad_mode_is_left_on():
    """A test that leaves autograd switched off would break every later test that trains: fail it instead."""
    yield
    if not torch.is_grad_enabled():
        torch.set_grad_enabled(True)
        pytest.fail("this test left torch's grad mode disabled")
