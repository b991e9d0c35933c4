"""The contract every environment implements (`BatchedEnv`), and the registry that finds environments and
algorithms by id."""
