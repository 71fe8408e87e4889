"""What the tests and the benchmarks share: local stand-ins for what is outside the product
(agents, workflows, Composio), the real processes started as a deployment starts them,
the backends they run on, signed deliveries, load, and waiting on a condition."""
