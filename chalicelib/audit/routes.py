"""Routes of the audit trail: staff's questions about what happened."""
from __future__ import annotations

from chalicelib.audit.models import AuditQuery, AuditRecord
from chalicelib.composition import services
from chalicelib.core.http import doc, page, query
from chalicelib.core.routing import Routes

routes = Routes(__name__)


@routes.route("/admin/audit", methods=["GET"])
@doc("Audit records by entity or date", "admin", query=AuditQuery, returns=AuditRecord, paged=True)
def admin_audit():
    return page(services().audit.query(query(AuditQuery)))
