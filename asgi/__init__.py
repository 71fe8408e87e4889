"""What Planner's HTTP front ends (webhook/, mcpserver/) share beneath the framework: a
request's *body*, read within a limit (`bodies`), its headers and bearer token, and a JSON
answer (`messages`). No rules live here; core has them."""
