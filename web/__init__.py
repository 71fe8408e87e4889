"""The web process: the dashboard, Composio's deliveries, the HTTP API and the health check
at one address, and (unless PLANNER_EMBEDDED_WORKER=0) a worker of its own."""
