"""Monthly reports: a PDF per zone (espace, département, national) with its charts, e-mailed to its subscribers.

``pdf`` writes the PDF (no dependency: vector charts and the PDF's standard fonts), ``monthly`` builds a zone's
report from the KPIs, ``mail`` sends them over SMTP to the subscriptions that ask for that zone, ``cli`` is
``borne collector report``. See ``docs/reports.md``.
"""

import logging

_LOG = logging.getLogger(__name__)
