"""What the tests and the benchmarks share: local stand-ins for what is outside the product
(agents, workflows, Composio), the real processes started as a deployment starts them,
the backends they run on, signed deliveries, load, and waiting on a condition; and what
tests read and drive: what is stored, `planner` in-process, the API, the dashboard's
screens and the browser. No test module imports another: what two share lives here."""
