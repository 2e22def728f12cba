"""The programme staff's dashboard, served by the collector at ``/dashboard/``.

Pages in French (national overview and drill-down, ranking, hour x weekday heatmap, map of départements, fleet
health, alerts) whose scripts read the JSON API with the user's token; charts drawn by Apache ECharts, served
from ``static/vendor/`` (no CDN: collectors run on closed networks). See ``docs/dashboard.md``.
"""

import logging

from fastapi import APIRouter

from collector.dashboard import export_routes, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(export_routes.router)

_LOG = logging.getLogger(__name__)

__all__ = ["router"]
