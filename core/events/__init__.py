"""Events from Composio: *deliveries* (one signed HTTP POST each) are checked and written to
the *inbox*; each stored *event* becomes at most one run per trigger that listens to its
*event type* (`catalog`) in `processing`. `envelope` reads Composio's event format.
"""
