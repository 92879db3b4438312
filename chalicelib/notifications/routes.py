"""Routes of notifications: my feed, and marking one read."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import caller, doc, page, query, respond
from chalicelib.core.models import PageQuery
from chalicelib.core.routing import Routes
from chalicelib.notifications.models import Notification

routes = Routes(__name__)


@routes.route("/me/notifications", methods=["GET"])
@doc("My notifications, newest first", "user", query=PageQuery, returns=Notification, paged=True)
def list_notifications():
    return page(services().notifications.feed(caller().user_id, query(PageQuery)))


@routes.route("/me/notifications/{notification_id}/read", methods=["POST"])
@doc("Mark a notification read", "user", returns=Notification)
def mark_notification_read(notification_id):
    return respond(services().notifications.mark_read(caller().user_id, notification_id))
