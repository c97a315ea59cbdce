"""The HTTP gateway: Starlette on uvicorn; owns nothing, asks the owners over NATS."""
