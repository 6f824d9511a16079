"""The web console: create workspaces with a live routability check, browse the registry and drift.

Server-rendered Jinja2 with a little plain JavaScript; no build step and no
assets from the internet. The service mounts :func:`console_router`.
"""

from routegate.console.routes import console_router

__all__ = ["console_router"]
