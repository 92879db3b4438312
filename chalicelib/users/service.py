"""User rules: profiles made on first need, a bounded address book, export, erasure, suspension."""
from __future__ import annotations

from collections.abc import Callable

from chalicelib.core.auth import Caller
from chalicelib.core.dynamo import Page
from chalicelib.core.errors import Conflict, NotFound, still_changing
from chalicelib.core.events import envelope
from chalicelib.core.gateways import ProviderError, identity_provider
from chalicelib.core.ids import iso, new_id
from chalicelib.core.logs import get_logger
from chalicelib.core.models import project
from chalicelib.core.optimistic import read_then_write
from chalicelib.core.outbox import announce
from chalicelib.users import account_status
from chalicelib.users.events import UserErased, UserStatusChanged
from chalicelib.users.models import (
    MAX_ADDRESSES,
    Address,
    AddressIn,
    AdminUser,
    Email,
    PersonName,
    Profile,
    ProfileOut,
    ProfilePatch,
    UserListQuery,
    UserStatusChange,
    claimed,
)
from chalicelib.users.personal_data import HasTime, PersonalData
from chalicelib.users.repository import (
    AccountInactive,
    AddressBookFull,
    AddressConflict,
    AddressMissing,
    ProfileChanged,
    ProfileMissing,
    UserRepository,
)

# Reads and writes of one change (a status, an address deletion) before giving up to a faster concurrent one.
_ATTEMPTS = 3


def _address_not_found(address_id: str) -> NotFound:
    return NotFound(f"Address {address_id} was not found.")




class UserService:
    def __init__(self, users: UserRepository, personal_data: PersonalData):
        self.users = users
        self.personal_data = personal_data  # what every domain exports and erases of a person

    # --- access ----------------------------------------------------------------------

    def refuse_inactive(self, who: Caller, allows_erased: bool = False) -> None:
        """API Gateway honours a token until it expires: the app refuses suspended or erased users (an erased
        one may repeat its erasure, where the route allows it)."""
        refused = ("SUSPENDED",) if allows_erased else ("SUSPENDED", "ERASED")
        if account_status.status_of(who.user_id, self.users.status_of) in refused:
            raise account_status.refusal()

    # --- profile ---------------------------------------------------------------------

    def profile(self, who: Caller) -> Profile:
        """The caller's profile, created from the token's claims on first need. The claims are held to what the
        API accepts (an attribute set by calling Cognito directly is not checked there): one that is not
        stays out of the profile."""
        existing = self.users.get_profile(who.user_id)
        if existing:
            return existing
        moment = iso()
        fresh = Profile(user_id=who.user_id, email=claimed(Email, who.email), name=claimed(PersonName, who.name),
                        created_at=moment, updated_at=moment)
        if self.users.create_profile(fresh):
            return fresh
        return self.users.get_profile(who.user_id) or fresh  # created concurrently: read theirs

    def me(self, who: Caller) -> ProfileOut:
        return project(ProfileOut, self.profile(who))

    def update_me(self, who: Caller, patch: ProfilePatch) -> ProfileOut:
        self.profile(who)
        changes = patch.model_dump(include=patch.model_fields_set)
        try:
            updated = self.users.update_profile(who.user_id, changes, iso(), allowed_statuses=("ACTIVE",))
        except ProfileMissing:
            raise account_status.inactive(who.user_id) from None
        return project(ProfileOut, updated)

    # --- addresses -------------------------------------------------------------------

    def addresses(self, who: Caller) -> list[Address]:
        profile = self.profile(who)
        return self.users.addresses_of(who.user_id, profile.default_address_id)

    def address(self, who: Caller, address_id: str) -> Address:
        profile = self.profile(who)
        found = self.users.get_address(who.user_id, address_id, profile.default_address_id)
        if found is None:
            raise _address_not_found(address_id)
        return found

    def add_address(self, who: Caller, new: AddressIn) -> Address:
        self.profile(who)
        address_id, moment = new_id(), iso()
        try:
            self.users.add_address(who.user_id, address_id, new, new.is_default, moment)
        except AddressBookFull:
            raise Conflict(f"An address book holds at most {MAX_ADDRESSES} addresses.",
                           code="ADDRESS_LIMIT") from None
        except (ProfileMissing, AccountInactive):
            raise account_status.inactive(who.user_id) from None
        except AddressConflict:
            raise still_changing("The address book") from None
        return self.address(who, address_id)

    def replace_address(self, who: Caller, address_id: str, new: AddressIn) -> Address:
        self.address(who, address_id)  # 404 for unknown ids and other users' ids alike
        try:
            self.users.replace_address(who.user_id, address_id, new, new.is_default, iso())
        except AddressMissing:
            raise _address_not_found(address_id) from None
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None
        except AddressConflict:
            raise still_changing("The address book") from None
        return self.address(who, address_id)

    def delete_address(self, who: Caller, address_id: str) -> None:
        def delete(book: list[Address]) -> None:
            target = next((a for a in book if a.id == address_id), None)
            if target is None:
                raise _address_not_found(address_id)
            # Deleting the default promotes the oldest remaining address.
            successor = next((a.id for a in book if a.id != address_id), None) if target.is_default else None
            try:
                self.users.delete_address(who.user_id, address_id, target.is_default, successor, iso())
            except AddressMissing:
                raise _address_not_found(address_id) from None

        # AddressConflict: the book changed under us, look again.
        try:
            read_then_write(lambda: self.addresses(who), delete, lost=AddressConflict, attempts=_ATTEMPTS,
                            gave_up=still_changing("The address book"))
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None

    # --- export and erasure ----------------------------------------------------------

    def export(self, who: Caller) -> dict:
        profile = self.profile(who)
        return {"exportedAt": iso(),
                "profile": project(ProfileOut, profile).model_dump(mode="json", by_alias=True),
                "addresses": [a.model_dump(mode="json", by_alias=True) for a in
                              self.users.addresses_of(who.user_id, profile.default_address_id)],
                **self.personal_data.export_sections(who.user_id)}

    def erase(self, who: Caller) -> None:
        """Start an erasure: the login disabled and signed out, the profile a tombstone (the erasure's
        record), `UserErased` announced through the outbox. Its consumer (`complete_erasure`) does the
        rest, however much there is. Safe to repeat."""
        idp = identity_provider()
        self._for_login(idp.disable, who.user_id)
        self._for_login(idp.global_sign_out, who.user_id)
        events = [envelope(UserErased(user_id=who.user_id), actor=who.user_id)]
        try:
            erased = self.users.erase_profile(who.user_id, iso(), events)
        except AccountInactive:
            raise account_status.inactive(who.user_id) from None
        account_status.forget(who.user_id)  # refused at once here; elsewhere within the cache's bound
        if erased:  # announced once, by the erasure that did it
            announce(events)

    def complete_erasure(self, user_id: str, has_time: HasTime) -> bool:
        """Everything else of an erased user: the login deleted from the pool (email and name with it), every
        domain's eraser (checkouts and orders with what hangs off them anonymised, notifications, basket, audit
        records), then whatever is left in their partition but the tombstone (the address book among it).

        Each step is idempotent and resumes from what is left, so a redelivery or a continuation is
        safe. True once nothing is left (noted on the tombstone, so a later redelivery writes nothing);
        False when `has_time()` ran out first: the caller continues later.
        """
        erased, finished = self.users.erasure_state(user_id)
        if not erased or finished:
            return True  # never erased (nothing to do), or done before: a redelivery changes nothing
        self._for_login(identity_provider().delete, user_id)
        if not self.personal_data.erase_everywhere(user_id, has_time):
            return False
        if not self.users.delete_all_but_the_tombstone(user_id, has_time):
            return False
        if self.users.finish_erasure(user_id, iso()):
            get_logger("users").info("erasure finished", extra={"userId": user_id})
        return True

    # --- staff -----------------------------------------------------------------------

    def list_users(self, query: UserListQuery) -> Page:
        page = self.users.list_profiles(query.status, query.limit, query.cursor)
        page.items = [project(AdminUser, p) for p in page.items]
        return page

    def set_status(self, staff: Caller, user_id: str, change: UserStatusChange) -> AdminUser:
        if user_id == staff.user_id:
            raise Conflict("You cannot change your own account status.", code="SELF_STATUS_CHANGE")
        current = self._changeable(user_id)
        if current.status == change.status:
            return project(AdminUser, current)
        idp = identity_provider()
        if change.status == "SUSPENDED":
            self._for_login(idp.disable, user_id)
            self._for_login(idp.global_sign_out, user_id)
        else:
            self._for_login(idp.enable, user_id)

        def write(seen: Profile) -> AdminUser:
            if seen.status == change.status:
                return project(AdminUser, seen)  # another change got there first (and announced it)
            events = [envelope(UserStatusChanged(user_id=user_id, status=change.status), actor=staff.user_id)]
            changed = self.users.change_status(seen, change.status, iso(), events)
            account_status.forget(user_id)  # takes effect at once here; elsewhere within the cache's bound
            announce(events)
            return project(AdminUser, changed)

        return read_then_write(lambda: self._changeable(user_id), write, seen=current, lost=ProfileChanged,
                               attempts=_ATTEMPTS, gave_up=still_changing("The account"))

    def _changeable(self, user_id: str) -> Profile:
        current = self.users.get_profile(user_id)
        if current is None:
            raise NotFound(f"User {user_id} was not found.")
        if current.status == "ERASED":
            raise Conflict("An erased account cannot be changed.", code="ACCOUNT_ERASED")
        return current

    @staticmethod
    def _for_login(step: Callable[[str], None], user_id: str) -> None:
        """Disable, enable, sign out or delete the user's login (`step`, an identity provider method)."""
        try:
            step(user_id)
        except ProviderError as exc:
            if exc.code == "UserNotFoundException":
                # Profile without a login (e.g. already removed from the pool): nothing to change.
                get_logger("users").warning("no Cognito user",
                                            extra={"userId": user_id, "op": getattr(step, "__name__", "")})
                return
            raise
