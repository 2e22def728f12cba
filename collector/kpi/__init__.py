"""Satisfaction and activity indicators for the programme's staff, computed from rollups only.

- :mod:`collector.kpi.selection`: level (espace, département, région, national), code, period, filters;
- :mod:`collector.kpi.stats`: Wilson interval, periods (day to year), the 0-100 index, trend;
- :mod:`collector.kpi.indicators`: satisfaction, resolution, ranking, heatmap, participation;
- :mod:`collector.kpi.targets`: targets per level (95 % by default);
- :mod:`collector.kpi.barometer`: IND-246 in the barometer's open-data format;
- :mod:`collector.kpi.export`: CSV and Parquet.

Definitions: ``docs/kpi.md``.
"""

import logging

_LOG = logging.getLogger(__name__)
