"""When jobs run.

Glossary: a job's *timing* is a 5-field *cron* schedule or one moment, in its own
*timezone*, between an optional first and last day, with an optional random delay; it names
the job's *occurrences*. The *tick* is the worker's periodic pass that turns due
occurrences into runs (and has the sweeps done).
"""
