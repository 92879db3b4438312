"""Creates the stack's resources inside moto for tests."""
from __future__ import annotations

import boto3


def create_stack() -> dict:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    attrs = ["PK", "SK"] + [f"GSI{i}{k}" for i in (1, 2, 3) for k in ("PK", "SK")]
    ddb.create_table(
        TableName="shop-local", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": f"GSI{i}", "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": f"GSI{i}PK", "KeyType": "HASH"},
                          {"AttributeName": f"GSI{i}SK", "KeyType": "RANGE"}]} for i in (1, 2, 3)])
    boto3.client("events", region_name="us-east-1").create_event_bus(Name="shop-local")
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    pool = idp.create_user_pool(PoolName="shop-local", UsernameAttributes=["email"],
                                Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True,
                                                             "RequireLowercase": True, "RequireNumbers": True,
                                                             "RequireSymbols": False}})["UserPool"]
    app_client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                             ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                                "ALLOW_REFRESH_TOKEN_AUTH"])
    idp.create_group(UserPoolId=pool["Id"], GroupName="admin")
    return {"table_name": "shop-local", "event_bus_name": "shop-local", "user_pool_id": pool["Id"],
            "user_pool_client_id": app_client["UserPoolClient"]["ClientId"]}
