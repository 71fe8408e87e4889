"""The *setup file*: agents, workflows, jobs and triggers as one YAML document, to move a
setup between machines: what it may hold (`schema`) and `planner export`/`import`
(`transfer`).
"""
