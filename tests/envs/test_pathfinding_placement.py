"""Start/goal placement against POGEMA 1.4.0: the same shuffled order gives the same agents, and on random maps
the distributions of start-component sizes and start-goal distances, and random-policy lifelong throughput,
agree with POGEMA's within standard errors. POGEMA's side is recorded by
benchmarks/pogema_placement_reference.py (run in its own virtual environment) in tests/data/pogema_placement.json.
"""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import marl
from envs.pathfinding import register
from envs.pathfinding.planning import ComponentTables, component_labels

register()
REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "pogema_placement.json").read_text())
Z = 4.0  # allowed difference in combined standard errors (about 30 statistics are compared)
COPIES = {16: 2000, 32: 128}  # our episodes per configuration (map size); POGEMA's are in the reference


@pytest.mark.parametrize(
    "case", REFERENCE["exact"], ids=lambda c: f"{c['size']}x{c['size']}-n{c['n_agents']}-s{c['seed']}"
)
def test_pogemas_order_gives_pogemas_agents(case):
    free = torch.tensor([[cell == "." for cell in row] for row in case["obstacles"]])
    labels = component_labels(free[None]).flatten(1)
    obstacles = (~free.flatten()).nonzero().squeeze(1)  # never placed: anywhere in the order
    order = torch.cat([torch.tensor(case["order"]), obstacles])[None]
    starts, goals = ComponentTables(labels, order).sample_pairs(case["n_agents"], "pogema", torch.Generator())
    assert starts[0].tolist() == case["starts"]
    assert goals[0].tolist() == case["goals"]


def bin_shares(values: torch.Tensor, bins) -> dict[str, torch.Tensor]:
    """Per episode (row of `values [episodes, agents]`), the share of agents whose value lies in each bin."""
    return {
        f"{low}-{high if high is not None else 'inf'}": (
            (values >= low) & (values <= (high if high is not None else values.max()))
        )
        .float()
        .mean(dim=1)
        for low, high in bins
    }


def capped_distances(free: torch.Tensor, starts: torch.Tensor, goals: torch.Tensor, cap: int) -> torch.Tensor:
    """Shortest-path lengths from `starts [G]` to `goals [G]` on `free [G, H, W]`, exact below `cap` and `cap`
    from there on: `cap - 1` rounds of growing the set of cells reached from the goal (the distance bins end
    with `cap` and up, and a full BFS on every agent's grid would cost ten times more)."""
    G, H, W = free.shape
    reached = torch.zeros(G, H * W, dtype=torch.uint8)
    reached[torch.arange(G), goals] = 1
    reached, free = reached.view(G, H, W), free.to(torch.uint8)
    dist = torch.full((G,), cap)
    for d in range(1, cap):
        p = F.pad(reached, (1, 1, 1, 1))
        reached = (reached | p[:, :-2, 1:-1] | p[:, 2:, 1:-1] | p[:, 1:-1, :-2] | p[:, 1:-1, 2:]) & free
        arrived = reached.view(G, -1)[torch.arange(G), starts].bool() & (dist == cap)
        dist[arrived] = d
    return dist


def placement_values(env) -> dict[str, torch.Tensor]:
    """Per-episode placement statistics of the copies' current starts and goals (as the reference defines them)."""
    B, n = env.pos.shape
    labels = component_labels(env.free).flatten(1)
    sizes = torch.zeros(B, labels.shape[1] + 1, dtype=torch.long)
    key = torch.where(labels >= 0, labels, labels.shape[1])
    sizes.scatter_add_(1, key, torch.ones_like(key))
    start_sizes = sizes.gather(1, labels.gather(1, env.pos))
    free = env.free[:, None].expand(B, n, env.height, env.width).reshape(B * n, env.height, env.width)
    cap = REFERENCE["distance_bins"][-1][0]
    dist = capped_distances(free, env.pos.flatten(), env.goal.flatten(), cap).view(B, n)
    values = {}
    for name, share in bin_shares(start_sizes, REFERENCE["component_bins"]).items():
        values[f"component_{name}"] = share
    for name, share in bin_shares(dist, REFERENCE["distance_bins"]).items():
        values[f"distance_{name}"] = share
    return values


def make_env(config, copies, placement):
    return marl.make(
        "pathfinding/random",
        num_envs=copies,
        seed=0,
        size=config["size"],
        density=config["density"],
        n_agents=config["n_agents"],
        max_steps=config["max_steps"],
        mode="lifelong",
        collision="soft",
        obs_radius=5,
        placement=placement,
    )


def disagreements(config, ours: dict[str, torch.Tensor]) -> list[str]:
    """The statistics whose means differ from POGEMA's by more than Z combined standard errors."""
    out = []
    for name, x in ours.items():
        reference = config["values"][name]
        se = math.sqrt(reference["se"] ** 2 + float(x.std()) ** 2 / len(x))
        if abs(float(x.mean()) - reference["mean"]) > Z * se:
            out.append(f"{name}: ours {float(x.mean()):.4f}, POGEMA {reference['mean']:.4f} +- {se:.4f}")
    return out


@pytest.mark.parametrize("config", REFERENCE["statistics"], ids=lambda c: f"{c['size']}x{c['size']}")
def test_placement_and_random_throughput_agree_with_pogema(config):
    env = make_env(config, COPIES[config["size"]], "pogema")
    env.reset()
    ours = placement_values(env)
    for _ in range(config["max_steps"]):
        step = env.step(env.sample_actions())
    assert bool(step.done.all())
    ours["throughput"] = step.info["throughput"]
    assert disagreements(config, ours) == []


def test_uniform_pairs_placement_is_told_apart():
    # the comparison has the power to see the difference POGEMA's placement makes: drawing pairs uniformly puts
    # fewer starts into small pockets
    config = REFERENCE["statistics"][0]
    env = make_env(config, COPIES[config["size"]], "uniform_pairs")
    env.reset()
    assert any(name.startswith("component_2-2") for name in disagreements(config, placement_values(env)))
