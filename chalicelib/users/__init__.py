"""Users: Cognito sign-up and sign-in, profiles, addresses, staff administration."""
