"""The scheduler: owns runs, run steps, jobs and the event log."""
