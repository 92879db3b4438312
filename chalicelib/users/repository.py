"""Profiles and address books in DynamoDB: one partition per user."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import dynamo
from chalicelib.core.events import Envelope
from chalicelib.core.outbox import outbox_puts
from chalicelib.users import keys
from chalicelib.users.models import MAX_ADDRESSES, Address, PostalAddress, Profile


class ProfileMissing(Exception):
    pass


class ProfileChanged(Exception):
    """The profile's status is no longer the one read: read it again."""


class AccountInactive(Exception):
    """The account is suspended or erased: nothing of it may be written on its own behalf."""


class PeopleErased(dynamo.Gathered):
    """These people (`parts`: user ids) were erased: nothing naming them may be written again."""


class ProfileExists(Exception):
    """A profile with this id is stored already."""


class AccountErasedBefore(Exception):
    """The account was erased already (its erasure announced then)."""


class AddressBookFull(Exception):
    pass


class AddressMissing(Exception):
    pass


class AddressConflict(Exception):
    """The address book changed while we were writing to it: retry."""


def _profile(item: dict[str, Any]) -> Profile:
    return dynamo.model_from_item(Profile, item)


def _address(item: dict[str, Any], default_id: str | None) -> Address:
    return dynamo.model_from_item(Address, item, is_default=item["id"] == default_id)


def _profile_item(profile: Profile, **extra: Any) -> dict[str, Any]:
    return {"PK": keys.user_pk(profile.user_id), "SK": keys.PROFILE_SK, "type": "PROFILE", **profile.model_dump(),
            **keys.listing_keys(profile.created_at, profile.user_id, profile.status), **extra}


class UserRepository:
    # --- profiles --------------------------------------------------------------------

    def get_profile(self, user_id: str) -> Profile | None:
        item = dynamo.get(keys.user_pk(user_id), keys.PROFILE_SK)
        return _profile(dynamo.from_item(item)) if item else None

    def status_of(self, user_id: str) -> str | None:
        """Just the account status: the check every authenticated request pays for."""
        item = dynamo.get(keys.user_pk(user_id), keys.PROFILE_SK, attributes="#s", names={"#s": "status"})
        return dynamo.from_item(item).get("status") if item else None

    def create_profile(self, profile: Profile) -> bool:
        """Store a new profile; False if one already exists (someone else created it first)."""
        return dynamo.put_if_absent(_profile_item(profile))

    def register(self, profile: Profile, events: list[Envelope]) -> None:
        """Store a new account's profile with the events announcing it, in one transaction. A profile
        already there (made from the token on a first request a moment earlier) keeps the events all the same."""
        try:
            dynamo.transact([dynamo.put(_profile_item(profile), refused=ProfileExists), *outbox_puts(events)])
        except ProfileExists:
            dynamo.transact(outbox_puts(events))

    def update_profile(self, user_id: str, fields: dict[str, Any], updated_at: str,
                       allowed_statuses: tuple[str, ...] = ("ACTIVE", "SUSPENDED")) -> Profile:
        fields = dict(fields, updated_at=updated_at)
        if "status" in fields:
            fields["GSI1PK"] = keys.status_partition(fields["status"])
        allowed = {f":allowed{i}": status for i, status in enumerate(allowed_statuses)}
        try:
            result = dynamo.ddb().update_item(
                TableName=dynamo.table_name(), Key=dynamo.key(keys.user_pk(user_id), keys.PROFILE_SK),
                ReturnValues="ALL_NEW",
                **dynamo.Update().set_all(fields).request(f"attribute_exists(PK) AND #status IN ({', '.join(allowed)})",
                                                          names={"#status": "status"}, values=allowed))
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                raise ProfileMissing(user_id) from None
            raise
        return _profile(dynamo.from_item(result["Attributes"]))

    def list_profiles(self, status: str | None, limit: int, cursor: str | None) -> dynamo.Page:
        if status:
            page = dynamo.query_page(keys.status_partition(status), index="GSI1", limit=limit, cursor=cursor)
        else:
            page = dynamo.query_page(keys.ALL_USERS, index="GSI2", limit=limit, cursor=cursor)
        page.items = [_profile(item) for item in page.items]
        return page

    def change_status(self, seen: Profile, status: str, updated_at: str, events: list[Envelope]) -> Profile:
        """Move an account from the status read to `status`, with its events, in one transaction.
        Raises ProfileChanged when the status is no longer the one read."""
        changed = seen.model_copy(update={"status": status, "updated_at": updated_at})
        written = dynamo.update(keys.user_pk(seen.user_id), keys.PROFILE_SK, dynamo.Update().set_all(
            {"status": status, "updated_at": updated_at, "GSI1PK": keys.status_partition(status)}),
            "#status = :seen", values={":seen": seen.status}, refused=ProfileChanged(seen.user_id))
        try:
            dynamo.transact([written, *outbox_puts(events)])
        except dynamo.TransactionContended:
            raise ProfileChanged(seen.user_id) from None
        return changed

    def erase_profile(self, user_id: str, erased_at: str, events: list[Envelope]) -> bool:
        """Replace the profile of an active account by a tombstone without personal data (the erasure's
        record), written with `events` in one transaction. Safe to repeat: False (and no events) if the account
        was already erased. Raises AccountInactive for a suspended account (suspended meanwhile, too): its
        fate is staff's. The rest (addresses, orders, ...) is the erasure consumer's, announced by `events`."""
        profile = self.get_profile(user_id)
        # No profile yet (never used the API): the tombstone still stops one being made from the token.
        created_at = profile.created_at if profile else erased_at
        tombstone = Profile(user_id=user_id, status="ERASED", created_at=created_at, updated_at=erased_at)
        def refused(found: dynamo.Found) -> Exception:
            # Erased before: announced then. Otherwise suspended: staff's.
            return AccountErasedBefore() if (found or {}).get("status") == "ERASED" else AccountInactive(user_id)

        try:
            dynamo.transact([dynamo.put(_profile_item(tombstone, erased_at=erased_at),
                                        "attribute_not_exists(PK) OR #status = :active",
                                        names={"#status": "status"}, values={":active": "ACTIVE"}, refused=refused),
                             *outbox_puts(events)])
        except AccountErasedBefore:
            return False
        return True

    @staticmethod
    def active(user_id: str) -> dynamo.Write:
        """A transaction item refused (AccountInactive) unless the account is active (or has no profile yet): what
        a request writes on the account's behalf never lands for a suspended or erased one, even while the
        account check remembers it active (users/account_status.py)."""
        return dynamo.check(keys.user_pk(user_id), keys.PROFILE_SK, "attribute_not_exists(PK) OR #status = :active",
                            names={"#status": "status"}, values={":active": "ACTIVE"}, refused=AccountInactive(user_id))

    def keep_events(self, events: list[Envelope], *, of_active: str | None = None) -> None:
        """Keep events that change no item of their own (a factor turned off) in the outbox; with `of_active`,
        only while that account is active (AccountInactive otherwise). EventAlreadyKept: kept before."""
        dynamo.transact([*([self.active(of_active)] if of_active else []), *outbox_puts(events)])

    def forget_unconfirmed(self, user_id: str) -> None:
        """The profile of a sign-up whose email was never confirmed, replaced by a newer registration (it never
        signed in: nothing else of it exists)."""
        dynamo.write(dynamo.delete(keys.user_pk(user_id), keys.PROFILE_SK))

    @staticmethod
    def not_erased(user_id: str) -> dynamo.Write:
        """A transaction item refused (PeopleErased) once the user is erased: what is written with it never
        outlives the erasure (an order created from a checkout still queued when its buyer left)."""
        return dynamo.check(keys.user_pk(user_id), keys.PROFILE_SK, "attribute_not_exists(PK) OR #status <> :erased",
                            names={"#status": "status"}, values={":erased": "ERASED"}, refused=PeopleErased(user_id))

    def erasure_state(self, user_id: str) -> tuple[bool, bool]:
        """(erased?, erasure finished?) from the tombstone."""
        item = dynamo.get(keys.user_pk(user_id), keys.PROFILE_SK, attributes="#s, erasure_completed_at",
                          names={"#s": "status"})
        found = dynamo.from_item(item) if item else {}
        return found.get("status") == "ERASED", "erasure_completed_at" in found

    def finish_erasure(self, user_id: str, completed_at: str) -> bool:
        """Note on the tombstone that nothing of the person is left; False if noted before (a redelivery)."""
        try:
            dynamo.ddb().update_item(TableName=dynamo.table_name(),
                                     Key=dynamo.key(keys.user_pk(user_id), keys.PROFILE_SK),
                                     **dynamo.Update().set("erasure_completed_at", completed_at).request(
                                         "#status = :erased AND attribute_not_exists(erasure_completed_at)",
                                         names={"#status": "status"}, values={":erased": "ERASED"}))
        except ClientError as exc:
            if dynamo.condition_failed(exc):
                return False
            raise
        return True

    def delete_all_but_the_tombstone(self, user_id: str, has_time: Callable[[], bool]) -> bool:
        """Erasure: every item of the user's partition but the tombstone (the address book, and whatever any
        domain keeps there: basket, notifications, promotion markers, ...), each while `has_time()`; True
        once only the tombstone is left."""
        for item in dynamo.every_item(keys.user_pk(user_id)):
            if item["SK"] == keys.PROFILE_SK:
                continue
            if not has_time():
                return False
            dynamo.ddb().delete_item(TableName=dynamo.table_name(), Key=dynamo.key(item["PK"], item["SK"]))
        return True

    # --- addresses -------------------------------------------------------------------

    def _address_items(self, user_id: str) -> list[dict[str, Any]]:
        # At most MAX_ADDRESSES items: one page always holds them all.
        return dynamo.query_page(keys.user_pk(user_id), sort_prefix=keys.ADDRESS_PREFIX,
                                 limit=MAX_ADDRESSES * 2).items

    def addresses_of(self, user_id: str, default_id: str | None) -> list[Address]:
        items = sorted(self._address_items(user_id), key=lambda i: (i["created_at"], i["id"]))
        return [_address(item, default_id) for item in items]

    def add_address(self, user_id: str, address_id: str, address: PostalAddress, make_default: bool,
                    now: str) -> None:
        """Add an address, bounded in number; the first one (or a requested one) becomes default."""
        item = {"PK": keys.user_pk(user_id), "SK": keys.address_sk(address_id), "type": "ADDRESS",
                "id": address_id, "created_at": now, "updated_at": now,
                **address.model_dump(include=set(PostalAddress.model_fields))}
        profile = dynamo.Update().set("updated_at", now).add("address_count", 1)
        if make_default:
            profile.set("default_address_id", address_id)
        else:
            profile.set_if_absent("default_address_id", address_id)
        def refused(found: dynamo.Found) -> Exception:
            if not found:
                return ProfileMissing(user_id)
            return AddressBookFull(user_id) if found.get("status") == "ACTIVE" else AccountInactive(user_id)

        try:
            dynamo.transact([
                # The counter on the profile makes the bound hold under concurrent requests; only an active
                # account adds to its book.
                dynamo.update(keys.user_pk(user_id), keys.PROFILE_SK, profile,
                              "attribute_exists(PK) AND #status = :active AND "
                              "(attribute_not_exists(#address_count) OR #address_count < :max)",
                              names={"#status": "status"}, values={":max": MAX_ADDRESSES, ":active": "ACTIVE"},
                              refused=refused),
                dynamo.put(item, refused=AddressConflict),
            ])
        except dynamo.TransactionContended:
            raise AddressConflict() from None

    def get_address(self, user_id: str, address_id: str, default_id: str | None) -> Address | None:
        item = dynamo.get(keys.user_pk(user_id), keys.address_sk(address_id))
        return _address(dynamo.from_item(item), default_id) if item else None

    def replace_address(self, user_id: str, address_id: str, address: PostalAddress, make_default: bool,
                        now: str) -> None:
        fields = dict(address.model_dump(include=set(PostalAddress.model_fields)), updated_at=now)
        items = [dynamo.update(keys.user_pk(user_id), keys.address_sk(address_id),
                               dynamo.Update().set_or_remove(fields), "attribute_exists(PK)",
                               refused=AddressMissing(address_id))]
        if make_default:
            items.append(dynamo.update(keys.user_pk(user_id), keys.PROFILE_SK,
                                       dynamo.Update().set_all({"default_address_id": address_id, "updated_at": now}),
                                       "attribute_exists(PK) AND #status = :active", names={"#status": "status"},
                                       values={":active": "ACTIVE"}, refused=AccountInactive(user_id)))
        else:
            items.append(self.active(user_id))
        try:
            dynamo.transact(items)
        except dynamo.TransactionContended:
            raise AddressConflict() from None

    def delete_address(self, user_id: str, address_id: str, was_default: bool, successor: str | None,
                       now: str) -> None:
        """Delete an address; if it was the default, the successor (if any) becomes default."""
        profile = dynamo.Update().set("updated_at", now).add("address_count", -1)
        if was_default and successor:
            profile.set("default_address_id", successor)
        elif was_default:
            profile.remove("default_address_id")
        # The default is still what was read: the one deleted, or another; and the account is active.
        condition = ("#default_address_id = :gone" if was_default
                     else "(attribute_not_exists(#default_address_id) OR #default_address_id <> :gone)")
        def refused(found: dynamo.Found) -> Exception:
            return AccountInactive(user_id) if (found or {}).get("status") != "ACTIVE" else AddressConflict()

        items = [dynamo.delete(keys.user_pk(user_id), keys.address_sk(address_id), "attribute_exists(PK)",
                               refused=AddressMissing(address_id)),
                 dynamo.update(keys.user_pk(user_id), keys.PROFILE_SK, profile, f"{condition} AND #status = :active",
                               names={"#default_address_id": "default_address_id", "#status": "status"},
                               values={":gone": address_id, ":active": "ACTIVE"}, refused=refused)]
        if successor:  # still there
            items.append(dynamo.check(keys.user_pk(user_id), keys.address_sk(successor), "attribute_exists(PK)",
                                      refused=AddressConflict))
        try:
            dynamo.transact(items)
        except dynamo.TransactionContended:
            raise AddressConflict() from None
