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

# JupyterLab is the default page. The session manager opens it in the
# pipeline's folder (--ServerApp.default_url=/lab/tree/<folder>) and passes
# the settings below too (orchest_session_manager.runtime.lab).
c.ServerApp.default_url = "/lab"
# One connection to Enterprise Gateway per browser connection (orchest_jupyter.py).
c.ServerApp.kernel_websocket_connection_class = "orchest_jupyter.GatewayConnection"
# Offline: no extension search or install from PyPI, no news, no update check.
c.LabApp.extension_manager = "readonly"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
