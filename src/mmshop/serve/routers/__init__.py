"""The API's routers, one per area; all mounted under ``/v1``."""
