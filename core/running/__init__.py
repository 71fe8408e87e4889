"""A run's life: made (`runs`), its action prepared (`actions`), claimed (`claims`), called
(`executor`), recorded (`outcomes`), and made good when lost (`sweeps`).

Glossary: a *run* is one occurrence, event or "run now" of one automation and ends as
exactly one terminal status; an *attempt* is one call within it; its *run key* is unique
forever and is the idempotency key the target sees. Runs are handed to workers through
the *queue* port (`queue.RunQueue`); the worker's *flight* (worker/flight.py) keeps their
calls open. Workers say they are alive with *heartbeats*.
"""
