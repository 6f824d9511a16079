"""routegate's HTTP service: the workspace API behind the create gates.

``create_app(settings)`` builds the FastAPI app; ``routegate serve`` runs it.
"""

from routegate.service.app import create_app
from routegate.service.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "create_app"]
