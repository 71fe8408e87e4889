"""Planner's side of Composio: its API through the SDK (`client`: trigger instances, the
webhook subscription, connected accounts) and setting Planner up with it (`setup`).

Glossary: Composio's *trigger instance* is its record of one of our triggers; its
*trigger type* is what Planner calls an event type.
"""
