"""Jobs and triggers, and what they share (`shared`).

Glossary: an *automation* is a job or a trigger — something Planner does on its own. A
*job* acts on its timing; a *trigger* acts on the events of one event type. Its *action*
is a chat message to an agent from a `{variable}` *template*, or a workflow run with
input; its *policy* is its own retries, call timeout and overlap. What a person sets on
one is typed (`fields`, with UNCHANGED for what is left as it is); text people type is read
into those types at the edges, one reader per kind of text (`text`).
"""
