"""The operations layer: every action rigtui takes on cameras, Pis and footage, once.

The CLI and the TUI call these modules and only parse, render and confirm. Each action takes typed
options (built from config.toml plus the operator's overrides), applies its policy (readiness
checks, gates), reports progress as typed events and returns a typed report. A destructive action
is a `plan` (what it would do, and why each part is allowed) and an `execute` that checks every
condition again at execution time and refuses what no longer holds.
"""
