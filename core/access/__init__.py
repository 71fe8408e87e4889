"""Keys and who may do what: the *secret key* that encrypts stored secrets (`secrets`), the
*credentials* Planner sends to targets, the *API tokens* of /api/v1 (`tokens`) and the
rate of tries at the *dashboard password* (`sign_in`).
"""
