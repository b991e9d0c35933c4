"""Learning machinery written once for every algorithm: the algorithm interface, networks, action
distributions, normalisation, the on-policy core and the off-policy pieces (replay, target networks)."""
