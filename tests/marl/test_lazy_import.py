"""`import marl` and `marl --help` load no torch, Hydra or PettingZoo: the public names are imported on first use."""

import subprocess
import sys


def test_import_marl_loads_nothing_heavy_until_used():
    code = (
        "import sys, marl\n"
        "heavy = {'torch', 'hydra', 'pettingzoo'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert 'random' in marl.list_algos()\n"  # the core's baseline registers with the plugins
        "assert marl.BatchedEnv.__module__ == 'marl.core.env' and 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_does_not_import_torch():
    code = "import sys\nfrom marl.running.cli import main\nassert 'torch' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "marl.running.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: marl" in out.stdout


def test_unknown_attribute_is_an_attribute_error():
    import marl

    try:
        marl.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("expected AttributeError")
