"""The targets runs call, and the calls.

Glossary: a *target* is an *agent* (a chat endpoint, OpenAI-compatible or plain HTTP) or a
*workflow* (an HTTP endpoint that takes input). `registry` keeps them, `calls` speaks to
them (over `sockets`), `check` tests a connection.
"""
