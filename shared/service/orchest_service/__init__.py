"""The one lifecycle every Orchest service shares.

Connect (NATS, Postgres), migrate what the service owns under an advisory
lock, register as a NATS micro service, serve, and drain on SIGTERM.
"""
