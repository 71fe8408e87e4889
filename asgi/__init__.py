"""What Planner's HTTP front ends (webhook/, mcpserver/) share beneath the framework: a
request's *body*, read within a limit (`bodies`). No rules live here; core has them."""
