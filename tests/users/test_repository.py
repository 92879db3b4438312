"""The address book's transactions answer with typed rejections, so services never decode DynamoDB's reasons."""
from __future__ import annotations

import pytest

from chalicelib.core.models import PostalAddress

HOME = PostalAddress(name="Ann", line1="1 Main St", city="Ghent", postal_code="9000", country="BE")
NOW = "2026-11-22T10:00:00.000Z"


@pytest.fixture
def users(aws):
    from chalicelib.users.models import Profile
    from chalicelib.users.repository import UserRepository
    from local.identities import running_as

    with running_as("api_handler"):
        repository = UserRepository()
        repository.create_profile(Profile(user_id="ann", email="ann@example.com", created_at=NOW, updated_at=NOW))
        yield repository


def test_a_full_address_book_is_address_book_full(users):
    from chalicelib.users.models import MAX_ADDRESSES
    from chalicelib.users.repository import AddressBookFull

    for number in range(MAX_ADDRESSES):
        users.add_address("ann", f"a{number}", HOME, False, NOW)
    with pytest.raises(AddressBookFull):
        users.add_address("ann", "one-too-many", HOME, False, NOW)
    assert len(users.addresses_of("ann", None)) == MAX_ADDRESSES


def test_an_address_for_nobody_is_profile_missing(users):
    from chalicelib.users.repository import ProfileMissing

    with pytest.raises(ProfileMissing):
        users.add_address("nobody", "a1", HOME, False, NOW)


def test_replacing_or_deleting_a_missing_address_is_address_missing(users):
    from chalicelib.users.repository import AddressMissing

    with pytest.raises(AddressMissing):
        users.replace_address("ann", "ghost", HOME, True, NOW)
    with pytest.raises(AddressMissing):
        users.delete_address("ann", "ghost", False, None, NOW)


def test_deleting_with_a_stale_view_of_the_default_is_address_conflict(users):
    from chalicelib.users.repository import AddressConflict

    users.add_address("ann", "first", HOME, False, NOW)  # the first one is the default
    users.add_address("ann", "second", HOME, False, NOW)
    with pytest.raises(AddressConflict):  # read as the default, but it is not (any more)
        users.delete_address("ann", "second", True, "first", NOW)
    with pytest.raises(AddressConflict):  # the successor read is gone
        users.delete_address("ann", "first", True, "deleted-meanwhile", NOW)
    assert [a.id for a in users.addresses_of("ann", "first")] == ["first", "second"]
