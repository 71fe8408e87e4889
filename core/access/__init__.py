"""Keys and who may do what: the *secret key* that encrypts stored secrets (`secrets`), the
*credentials* Planner sends to targets, the *API tokens* of /api/v1 and /mcp (`tokens`),
the *scope* a caller reaches, every agent or one agent's jobs, triggers and runs
(`scopes`), and the rate of tries at the *dashboard password* (`sign_in`).
"""
