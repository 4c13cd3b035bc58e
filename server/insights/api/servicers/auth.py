from __future__ import annotations

from insights.api import converters
from insights.api.types import Context
from insights.auth.service import AuthService
from insights.context import current_call
from insights.v1 import auth_pb2, auth_pb2_grpc


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        result = await self._auth.register(
            current_call.get(),
            email=request.email,
            password=request.password,
            first_name=request.first_name,
            last_name=request.last_name,
            organization_name=request.organization_name,
        )
        return converters.auth_response(result)

    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        result = await self._auth.login(current_call.get(), email=request.email, password=request.password)
        return converters.auth_response(result)

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: Context
    ) -> auth_pb2.AuthResponse:
        result = await self._auth.refresh(current_call.get(), refresh_token=request.refresh_token)
        return converters.auth_response(result)

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        await self._auth.logout(current_call.get(), refresh_token=request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: Context) -> auth_pb2.User:
        return converters.user(await self._auth.me(current_call.get()))

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        await self._auth.change_password(
            current_call.get(), current_password=request.current_password, new_password=request.new_password
        )
        return auth_pb2.ChangePasswordResponse()

    async def CreateUser(
        self, request: auth_pb2.CreateUserRequest, context: Context
    ) -> auth_pb2.User:
        view = await self._auth.create_user(
            current_call.get(),
            email=request.email,
            password=request.password,
            first_name=request.first_name,
            last_name=request.last_name,
            role=request.role,
            permissions=list(request.permissions),
        )
        return converters.user(view)

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: Context
    ) -> auth_pb2.ListUsersResponse:
        users, total = await self._auth.list_users(
            current_call.get(), page=request.page, page_size=request.page_size
        )
        return auth_pb2.ListUsersResponse(users=[converters.user(u) for u in users], total=total)

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        key, secret = await self._auth.create_api_key(
            current_call.get(), name=request.name, permissions=list(request.permissions)
        )
        return auth_pb2.CreateApiKeyResponse(api_key=converters.api_key(key), secret=secret)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        keys = await self._auth.list_api_keys(current_call.get())
        return auth_pb2.ListApiKeysResponse(api_keys=[converters.api_key(k) for k in keys])

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.RevokeApiKeyResponse:
        await self._auth.revoke_api_key(current_call.get(), key_id=request.key_id)
        return auth_pb2.RevokeApiKeyResponse()
