"""The step runner: stateless; pulls step work and executes it."""
