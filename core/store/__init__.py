"""The database: engines and sessions (`db`), the tables (`models`), values every database
stores (`standard_json`) and lists a page at a time (`pages`).

Glossary: a *row* is the truth; queue messages only name rows to work on.
"""
