"""Planner's rules, apart from any front end: the dashboard, the worker, the webhook, the web
app and the CLI are thin adapters over these packages, and none of them is imported here
(nor streamlit, huey or starlette). Each package is one concept; its docstring is its part
of the glossary (docs/glossary.md).

- `config`, `errors`, `outbound`: settings, errors in one sentence, where calls may go.
- `store`: the database: engines, tables, stored JSON values, pages of rows.
- `scheduling`: when jobs run: cron, timezones, timings, occurrences, the tick.
- `automations`: jobs and triggers and what they share: names, actions, policies,
  templates.
- `agents`: the targets runs call (agents and workflows) and the calls themselves.
- `running`: a run's life: made, claimed, called, recorded, swept; the queue port.
- `events`: Composio's deliveries, the inbox, event types.
- `composio`: Planner's side of Composio's API and its setup.
- `notifications`: channels and the alerts sent to them.
- `access`: the secret key, credentials, API tokens, the dashboard's password.
- `setup`: the setup file (export and import).
- `views`: what pages and lists show, in plain words.
"""
