"""What people see: read models for the dashboard (`overview`, `activity`), events as
people read them (`events`), and plain words for runs, events and errors (`words`).
"""
