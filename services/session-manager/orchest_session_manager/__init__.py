"""The session manager: owns interactive sessions and their containers or processes."""
