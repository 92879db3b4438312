"""Profiles and address books in DynamoDB: one partition per user."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core.dynamo import (Page, condition_failed, ddb, from_item, key, put_if_absent, query_page, table_name,
                                    to_attr, to_item)
from chalicelib.users import keys
from chalicelib.users.models import MAX_ADDRESSES, Address, PostalAddress, Profile


class ProfileMissing(Exception):
    pass


class AddressBookFull(Exception):
    pass


class AddressMissing(Exception):
    pass


def _profile(item: dict[str, Any]) -> Profile:
    return Profile.model_validate({k: v for k, v in item.items() if k in Profile.model_fields})


def _address(item: dict[str, Any], default_id: str | None) -> Address:
    fields = {k: v for k, v in item.items() if k in Address.model_fields}
    return Address.model_validate({**fields, "is_default": item["id"] == default_id})


def _transaction_cancelled(exc: ClientError) -> list[str]:
    """Per-item reasons of a cancelled transaction ("None" where the item was fine)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    return [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]


class UserRepository:
    # --- profiles --------------------------------------------------------------------

    def get_profile(self, user_id: str) -> Profile | None:
        item = ddb().get_item(TableName=table_name(),
                              Key=key(keys.user_pk(user_id), keys.PROFILE_SK)).get("Item")
        return _profile(from_item(item)) if item else None

    def status_of(self, user_id: str) -> str | None:
        """Just the account status: the check every authenticated request pays for."""
        item = ddb().get_item(TableName=table_name(), Key=key(keys.user_pk(user_id), keys.PROFILE_SK),
                              ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"}
                              ).get("Item")
        return from_item(item).get("status") if item else None

    def create_profile(self, profile: Profile) -> bool:
        """Store a new profile; False if one already exists (someone else created it first)."""
        item = {"PK": keys.user_pk(profile.user_id), "SK": keys.PROFILE_SK, "type": "PROFILE",
                **profile.model_dump(), **keys.listing_keys(profile.created_at, profile.user_id,
                                                            profile.status)}
        return put_if_absent(item)

    def update_profile(self, user_id: str, fields: dict[str, Any], updated_at: str,
                       allowed_statuses: tuple[str, ...] = ("ACTIVE", "SUSPENDED")) -> Profile:
        fields = dict(fields, updated_at=updated_at)
        if "status" in fields:
            fields["GSI1PK"] = keys.status_partition(fields["status"])
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": to_attr(value) for i, value in enumerate(fields.values())}
        names["#status"] = "status"
        values.update({f":s{i}": to_attr(s) for i, s in enumerate(allowed_statuses)})
        allowed = ", ".join(f":s{i}" for i in range(len(allowed_statuses)))
        try:
            result = ddb().update_item(
                TableName=table_name(), Key=key(keys.user_pk(user_id), keys.PROFILE_SK),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                ConditionExpression=f"attribute_exists(PK) AND #status IN ({allowed})",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if condition_failed(exc):
                raise ProfileMissing(user_id) from None
            raise
        return _profile(from_item(result["Attributes"]))

    def list_profiles(self, status: str | None, limit: int, cursor: str | None) -> Page:
        if status:
            page = query_page(keys.status_partition(status), index="GSI1", limit=limit, cursor=cursor)
        else:
            page = query_page(keys.ALL_USERS, index="GSI2", limit=limit, cursor=cursor)
        page.items = [_profile(item) for item in page.items]
        return page

    def erase_profile(self, user_id: str, erased_at: str) -> None:
        """Replace the profile by a tombstone without personal data; remove every address."""
        profile = self.get_profile(user_id)
        addresses = self._address_items(user_id)
        for item in addresses:
            ddb().delete_item(TableName=table_name(), Key=key(item["PK"], item["SK"]))
        if profile is None:
            return
        tombstone = Profile(user_id=user_id, status="ERASED", created_at=profile.created_at,
                            updated_at=erased_at)
        item = {"PK": keys.user_pk(user_id), "SK": keys.PROFILE_SK, "type": "PROFILE", "erased_at": erased_at,
                **tombstone.model_dump(exclude={"email", "name", "phone", "default_address_id"}),
                **keys.listing_keys(profile.created_at, user_id, "ERASED")}
        ddb().put_item(TableName=table_name(), Item=to_item(item))

    # --- addresses -------------------------------------------------------------------

    def _address_items(self, user_id: str) -> list[dict[str, Any]]:
        # At most MAX_ADDRESSES items: one page always holds them all.
        return query_page(keys.user_pk(user_id), sort_prefix=keys.ADDRESS_PREFIX,
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
        default_clause = ("#default = :id" if make_default
                          else "#default = if_not_exists(#default, :id)")
        try:
            ddb().transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.PROFILE_SK),
                    # The counter on the profile makes the bound hold under concurrent requests.
                    "UpdateExpression": f"SET {default_clause}, updated_at = :now ADD #count :one",
                    "ConditionExpression": "attribute_exists(PK) AND (attribute_not_exists(#count) OR #count < :max)",
                    "ExpressionAttributeNames": {"#default": "default_address_id", "#count": "address_count"},
                    "ExpressionAttributeValues": {":id": to_attr(address_id), ":one": to_attr(1),
                                                  ":max": to_attr(MAX_ADDRESSES), ":now": to_attr(now)}}},
                {"Put": {"TableName": table_name(), "Item": to_item(item),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
            ])
        except ClientError as exc:
            reasons = _transaction_cancelled(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise AddressBookFull(user_id) from None
            raise

    def get_address(self, user_id: str, address_id: str, default_id: str | None) -> Address | None:
        item = ddb().get_item(TableName=table_name(),
                              Key=key(keys.user_pk(user_id), keys.address_sk(address_id))).get("Item")
        return _address(from_item(item), default_id) if item else None

    def replace_address(self, user_id: str, address_id: str, address: PostalAddress, make_default: bool,
                        now: str) -> None:
        fields = dict(address.model_dump(include=set(PostalAddress.model_fields)), updated_at=now)
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": to_attr(value) for i, value in enumerate(fields.values())}
        removals = [f"#f{i}" for i, (name, value) in enumerate(fields.items()) if value is None]
        sets = [f"#f{i} = :f{i}" for i, (name, value) in enumerate(fields.items()) if value is not None]
        for removed in removals:
            values.pop(":" + removed[1:])
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removals) if removals else "")
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.address_sk(address_id)),
            "UpdateExpression": expression, "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}]
        if make_default:
            items.append({"Update": {
                "TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.PROFILE_SK),
                "UpdateExpression": "SET default_address_id = :id, updated_at = :now",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeValues": {":id": to_attr(address_id), ":now": to_attr(now)}}})
        try:
            ddb().transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _transaction_cancelled(exc)[0] == "ConditionalCheckFailed":
                raise AddressMissing(address_id) from None
            raise

    def delete_address(self, user_id: str, address_id: str, was_default: bool, successor: str | None,
                       now: str) -> None:
        """Delete an address; if it was the default, the successor (if any) becomes default."""
        names = {"#count": "address_count", "#default": "default_address_id"}
        values: dict[str, Any] = {":minus": to_attr(-1), ":now": to_attr(now), ":gone": to_attr(address_id)}
        if was_default and successor:
            update, values[":next"] = "SET #default = :next, updated_at = :now ADD #count :minus", to_attr(successor)
            condition = "#default = :gone"
        elif was_default:
            update, condition = "SET updated_at = :now REMOVE #default ADD #count :minus", "#default = :gone"
        else:
            update = "SET updated_at = :now ADD #count :minus"
            condition = "attribute_not_exists(#default) OR #default <> :gone"
        items: list[dict[str, Any]] = [
            {"Delete": {"TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.address_sk(address_id)),
                        "ConditionExpression": "attribute_exists(PK)"}},
            {"Update": {"TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.PROFILE_SK),
                        "UpdateExpression": update, "ConditionExpression": condition,
                        "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}},
        ]
        if successor:
            items.append({"ConditionCheck": {
                "TableName": table_name(), "Key": key(keys.user_pk(user_id), keys.address_sk(successor)),
                "ConditionExpression": "attribute_exists(PK)"}})
        try:
            ddb().transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = _transaction_cancelled(exc)
            if reasons[0] == "ConditionalCheckFailed":
                raise AddressMissing(address_id) from None
            raise AddressConflict() from None


class AddressConflict(Exception):
    """The address book changed while we were deleting from it: retry."""
