"""Telling people: *channels* (Apprise URLs) and the *alerts* sent to them (failure,
recovery, digest), each send in a child process with a deadline (`sending`).
"""
