"""The market's web page: browse, inspect, search (by tags and by a CSV), download, and with a
token upload and delete.  ``create_app`` includes :data:`router`; the page is at ``/ui/``
(``/`` redirects there) and is plain HTML + JavaScript calling the REST API, with no asset from
elsewhere and no build step.
"""

from .routes import router

__all__ = ["router"]
