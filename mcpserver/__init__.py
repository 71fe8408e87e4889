"""The MCP server: Planner's tools for agents, so an agent schedules its own follow-ups
("remind me Friday at 9") and looks after its jobs from inside a conversation.

- *tool*: one thing an agent may ask for, by a name clients rely on (`schedule_message`,
  `list_jobs`, `pause_job`, `resume_job`, `delete_job`, `run_job_now`, `list_runs`,
  `list_triggers`); each calls the same core functions as the CLI and the HTTP API, and
  answers in words and as structured content. A refusal is a tool error with the CLI's
  one-line reason.
- *caller's scope*: what the token (HTTP) or `--agent` (stdio) reaches
  (core.access.scopes): one agent's jobs, triggers and runs, or every agent's.
- transports: streamable HTTP at `/mcp` on the web address (`http`, hosted by web/), with
  Planner's API tokens; stdio (`python -m mcpserver`, which `planner mcp` runs) for
  desktop MCP clients.
"""
