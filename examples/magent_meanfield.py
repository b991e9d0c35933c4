"""MF-Q on MAgent's battle: train both armies in self-play, then put the trained red army against a random one.

Every agent's Q network reads its 13 x 13 view and the mean action of its 8 nearest team-mates in view (the
neighbours `magent/battle` publishes). A short run on a small map (9 vs 9) so that it finishes in a minute on
a CPU; prints the training returns and the survivors of the match. Run it:
`python examples/magent_meanfield.py [--iterations 100]`.
"""

from __future__ import annotations

import argparse

import torch

import marl
from algos.meanfield import MFQ
from envs import magent
from marl.learning.algorithm import Algorithm, RandomConfig, RandomPolicy, evaluate

parser = argparse.ArgumentParser(description="MF-Q self-play on a small MAgent battle.")
parser.add_argument("--iterations", type=int, default=40)
args = parser.parse_args()

magent.register()  # done by the `marl.envs` entry point once the package is installed
torch.manual_seed(0)
battle = dict(map_size=16, gap=1, max_steps=50)
env = marl.make("magent/battle", num_envs=8, seed=0, **battle)
mfq = MFQ(env, {"mean_action": "neighbours", "learning_starts": 16}, "cpu")
for i in range(args.iterations):
    iteration = mfq.train_iteration()
    stats = mfq.episodes.pop()
    if stats:
        print(f"iteration {i}: red return {stats['episode_return/red']:.2f}, kills {stats['red_kills']:.2f}")


class RedAgainstRandom(Algorithm):
    """The trained red army against a uniformly random blue one."""

    def __init__(self, red: Algorithm, blue: Algorithm) -> None:
        self.red, self.blue = red, blue

    def initial_policy_state(self, num_envs: int):
        return self.red.initial_policy_state(num_envs)

    def act(self, step, policy_state, deterministic=False, generator=None):
        red, state = self.red.act(step, policy_state, deterministic, generator)
        blue, _ = self.blue.act(step, None, deterministic, generator)
        return {"red": red["red"], "blue": blue["blue"]}, state


match = marl.make("magent/battle", num_envs=8, seed=1, **battle)
result = evaluate(RedAgainstRandom(mfq, RandomPolicy(match, RandomConfig(), "cpu")), match, 8, False, seed=1)
print(
    f"MF-Q red vs random blue: red left {sum(result['red_alive']) / 8:.1f}, blue left {sum(result['blue_alive']) / 8:.1f}"
)
