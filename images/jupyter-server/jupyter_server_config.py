# Defaults of the session's Jupyter server; the session manager adds
# --GatewayClient.url (or JUPYTER_GATEWAY_URL), --port (or JUPYTER_PORT) and
# the token on the command line.
c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.ServerApp.root_dir = "/project-dir"
# Host networking: loopback unless told otherwise.
c.ServerApp.ip = "127.0.0.1"
# Fail on a taken port instead of silently moving to the next one.
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
# Containers run as root unless started with --user.
c.ServerApp.allow_root = True
