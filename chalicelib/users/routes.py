"""Routes of accounts: sign-up and sign-in (TOTP as a second factor), my profile and address book, export and
erasure, staff's view."""
from __future__ import annotations

from chalicelib.composition import services
from chalicelib.core.http import body, caller, client_address, doc, page, query, respond
from chalicelib.core.routing import Routes
from chalicelib.users import models

routes = Routes(__name__)


# --- sign-up and sign-in -----------------------------------------------------------------

@routes.route("/auth/register", methods=["POST"])
@doc("Register a new account (an email that has one is answered alike; its holder is told)", "public",
     body=models.RegisterRequest, returns=models.Registered, status=201, errors=(429,))
def register():
    return respond(services().auth.register(body(models.RegisterRequest)), status=201)


@routes.route("/auth/confirm", methods=["POST"])
@doc("Confirm an account with the emailed code", "public", body=models.ConfirmRequest, status=204)
def confirm_registration():
    services().auth.confirm(body(models.ConfirmRequest))
    return respond(status=204)


@routes.route("/auth/login", methods=["POST"])
@doc("Log in: ID, access and refresh tokens, or the TOTP challenge to answer at /auth/mfa (an account that "
     "failed too often waits: 429 with Retry-After)", "public", body=models.LoginRequest, returns=models.LoginResult,
     errors=(401, 403, 429))
def login():
    return respond(services().auth.login(body(models.LoginRequest), client_address()))


@routes.route("/auth/mfa", methods=["POST"])
@doc("Finish a login with the authenticator's code: the tokens", "public", body=models.MfaAnswer, returns=models.Tokens,
     errors=(401, 403, 429))
def answer_mfa():
    return respond(services().auth.answer_mfa(body(models.MfaAnswer), client_address()))


@routes.route("/auth/refresh", methods=["POST"])
@doc("New tokens for a refresh token", "public", body=models.RefreshRequest, returns=models.Tokens, errors=(401, 429))
def refresh_tokens():
    return respond(services().auth.refresh(body(models.RefreshRequest)))


@routes.route("/auth/forgot-password", methods=["POST"])
@doc("Send a password reset code (never says whether the email exists)", "public", body=models.ForgotPasswordRequest,
     status=202, raw_response={"type": "object"}, errors=(429,))
def forgot_password():
    services().auth.forgot_password(body(models.ForgotPasswordRequest))
    return respond({"status": "If the account exists, a reset code has been sent."}, status=202)


@routes.route("/auth/reset-password", methods=["POST"])
@doc("Set a new password with the emailed code", "public", body=models.ResetPasswordRequest, status=204, errors=(429,))
def reset_password():
    services().auth.reset_password(body(models.ResetPasswordRequest))
    return respond(status=204)


# --- me ----------------------------------------------------------------------------------

@routes.route("/me", methods=["GET"])
@doc("My profile", "user", returns=models.ProfileOut)
def get_me():
    return respond(services().users.me(caller()))


@routes.route("/me", methods=["PATCH"])
@doc("Change my name, phone or marketing preferences", "user", body=models.ProfilePatch, returns=models.ProfileOut)
def update_me():
    return respond(services().users.update_me(caller(), body(models.ProfilePatch)))


@routes.route("/me", methods=["DELETE"])
@doc("Erase my personal data: the login at once, the rest within minutes (orders stay, anonymised)", "user",
     returns=models.ErasureAccepted, status=202, allows_erased=True)
def erase_me():
    services().users.erase(caller())
    return respond(models.ErasureAccepted(), status=202)


@routes.route("/me/export", methods=["GET"])
@doc("Everything the shop holds about me", "user", raw_response={"type": "object"})
def export_me():
    return services().users.export(caller())


@routes.route("/me/addresses", methods=["GET"])
@doc("My address book", "user", returns=models.Address, paged=True)
def list_addresses():
    return {"items": [a.model_dump(mode="json", by_alias=True) for a in services().users.addresses(caller())],
            "nextCursor": None}


@routes.route("/me/addresses", methods=["POST"])
@doc("Add an address (at most 10; the first is the default)", "user",
     body=models.AddressIn, returns=models.Address, status=201, errors=(409,))
def add_address():
    return respond(services().users.add_address(caller(), body(models.AddressIn)), status=201)


@routes.route("/me/addresses/{address_id}", methods=["PUT"])
@doc("Replace an address", "user", body=models.AddressIn, returns=models.Address)
def replace_address(address_id):
    return respond(services().users.replace_address(caller(), address_id, body(models.AddressIn)))


@routes.route("/me/addresses/{address_id}", methods=["DELETE"])
@doc("Delete an address (the default passes to another)", "user", status=204, errors=(409,))
def delete_address(address_id):
    services().users.delete_address(caller(), address_id)
    return respond(status=204)


# Cognito's TOTP enrolment is authorised by the user's access token, which the body carries; the
# Authorization header's ID token says who calls, and the access token must be theirs.
@routes.route("/me/mfa/totp", methods=["POST"])
@doc("Start TOTP enrolment: a secret (and otpauth URI) for an authenticator app", "user",
     body=models.TotpSetupRequest, returns=models.TotpSecret, errors=(429,))
def start_totp():
    return respond(services().auth.start_totp(caller(), body(models.TotpSetupRequest)))


@routes.route("/me/mfa/totp/verify", methods=["POST"])
@doc("Finish TOTP enrolment with the authenticator's first code: every later login asks for a code", "user",
     body=models.TotpVerifyRequest, status=204, errors=(409, 429))
def verify_totp():
    services().auth.verify_totp(caller(), body(models.TotpVerifyRequest))
    return respond(status=204)


@routes.route("/me/mfa", methods=["DELETE"])
@doc("Turn TOTP off with the access token, the password and the authenticator's current code: the password "
     "alone signs in again", "user", body=models.MfaDisableRequest, status=204, errors=(403, 429))
def disable_mfa():
    services().auth.disable_mfa(caller(), body(models.MfaDisableRequest), client_address())
    return respond(status=204)


# --- staff -------------------------------------------------------------------------------

@routes.route("/admin/users", methods=["GET"])
@doc("Users, optionally by status", "admin", query=models.UserListQuery, returns=models.AdminUser, paged=True)
def admin_list_users():
    return page(services().users.list_users(query(models.UserListQuery)))


@routes.route("/admin/users/{user_id}", methods=["PATCH"])
@doc("Suspend or reactivate a user", "admin", body=models.UserStatusChange, returns=models.AdminUser, errors=(409,))
def admin_set_user_status(user_id):
    return respond(services().users.set_status(caller(), user_id, body(models.UserStatusChange)))
