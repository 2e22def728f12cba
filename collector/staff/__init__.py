"""Programme staff on the dashboard: OpenID Connect sign-in (ProConnect), sessions, the access list, the audit log.

People sign in with their provider (:mod:`.oidc`); the collector keeps their session server-side
(:mod:`.sessions`); what they may read comes from the access list admins keep (:mod:`.access`), and every change
to it lands in the audit log (:mod:`.audit`). API tokens (:mod:`collector.auth`) stay for machines and scripts.
"""

import logging

_LOG = logging.getLogger(__name__)
