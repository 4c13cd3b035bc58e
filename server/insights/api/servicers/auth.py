from __future__ import annotations

from insights.api.converters import auth as convert
from insights.api.types import Context
from insights.auth.service import AuthService
from insights.context import current_call
from insights.v1 import auth_pb2, auth_pb2_grpc


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    async def Register(self, request: auth_pb2.RegisterRequest, context: Context) -> auth_pb2.RegisterResponse:
        status = await self._auth.register(
            current_call.get(), email=request.email, password=request.password, first_name=request.first_name,
            last_name=request.last_name, organization_name=request.organization_name,
        )
        return auth_pb2.RegisterResponse(status=status)

    async def VerifyEmail(
        self, request: auth_pb2.VerifyEmailRequest, context: Context
    ) -> auth_pb2.VerifyEmailResponse:
        result = await self._auth.verify_email(current_call.get(), token=request.token, password=request.password)
        return convert.signed_in(auth_pb2.VerifyEmailResponse, result)

    async def Login(self, request: auth_pb2.LoginRequest, context: Context) -> auth_pb2.LoginResponse:
        result = await self._auth.login(current_call.get(), email=request.email, password=request.password)
        return convert.signed_in(auth_pb2.LoginResponse, result)

    async def Refresh(self, request: auth_pb2.RefreshRequest, context: Context) -> auth_pb2.RefreshResponse:
        result = await self._auth.refresh(current_call.get(), refresh_token=request.refresh_token)
        return convert.signed_in(auth_pb2.RefreshResponse, result)

    async def Logout(self, request: auth_pb2.LogoutRequest, context: Context) -> auth_pb2.LogoutResponse:
        await self._auth.logout(current_call.get(), refresh_token=request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: Context) -> auth_pb2.GetMeResponse:
        return auth_pb2.GetMeResponse(user=convert.user(await self._auth.me(current_call.get())))

    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        await self._auth.change_password(
            current_call.get(), current_password=request.current_password, new_password=request.new_password
        )
        return auth_pb2.ChangePasswordResponse()

    async def RequestPasswordReset(
        self, request: auth_pb2.RequestPasswordResetRequest, context: Context
    ) -> auth_pb2.RequestPasswordResetResponse:
        status = await self._auth.request_password_reset(current_call.get(), email=request.email)
        return auth_pb2.RequestPasswordResetResponse(status=status)

    async def ResetPassword(
        self, request: auth_pb2.ResetPasswordRequest, context: Context
    ) -> auth_pb2.ResetPasswordResponse:
        await self._auth.reset_password(current_call.get(), token=request.token, new_password=request.new_password)
        return auth_pb2.ResetPasswordResponse()

    async def ListSessions(
        self, request: auth_pb2.ListSessionsRequest, context: Context
    ) -> auth_pb2.ListSessionsResponse:
        page = await self._auth.list_sessions(
            current_call.get(), page_size=request.page_size, page_token=request.page_token
        )
        return auth_pb2.ListSessionsResponse(
            sessions=[convert.session(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: Context
    ) -> auth_pb2.RevokeSessionResponse:
        await self._auth.revoke_session(current_call.get(), session_id=request.session_id)
        return auth_pb2.RevokeSessionResponse()

    async def RevokeAllSessions(
        self, request: auth_pb2.RevokeAllSessionsRequest, context: Context
    ) -> auth_pb2.RevokeAllSessionsResponse:
        revoked = await self._auth.revoke_all_sessions(current_call.get(), keep_current=request.keep_current)
        return auth_pb2.RevokeAllSessionsResponse(revoked=revoked)

    async def CreateUser(self, request: auth_pb2.CreateUserRequest, context: Context) -> auth_pb2.CreateUserResponse:
        view = await self._auth.create_user(
            current_call.get(), email=request.email, password=request.password, first_name=request.first_name,
            last_name=request.last_name, role=request.role, permissions=list(request.permissions),
        )
        return auth_pb2.CreateUserResponse(user=convert.user(view))

    async def ListUsers(self, request: auth_pb2.ListUsersRequest, context: Context) -> auth_pb2.ListUsersResponse:
        page = await self._auth.list_users(
            current_call.get(), page_size=request.page_size, page_token=request.page_token
        )
        return auth_pb2.ListUsersResponse(
            users=[convert.user(u) for u in page.items], next_page_token=page.next_page_token, total=page.total
        )

    async def DisableUser(
        self, request: auth_pb2.DisableUserRequest, context: Context
    ) -> auth_pb2.DisableUserResponse:
        view = await self._auth.set_user_active(current_call.get(), user_id=request.user_id, active=False)
        return auth_pb2.DisableUserResponse(user=convert.user(view))

    async def EnableUser(self, request: auth_pb2.EnableUserRequest, context: Context) -> auth_pb2.EnableUserResponse:
        view = await self._auth.set_user_active(current_call.get(), user_id=request.user_id, active=True)
        return auth_pb2.EnableUserResponse(user=convert.user(view))

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        key, secret = await self._auth.create_api_key(
            current_call.get(), name=request.name, permissions=list(request.permissions)
        )
        return auth_pb2.CreateApiKeyResponse(api_key=convert.api_key(key), secret=secret)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        page = await self._auth.list_api_keys(
            current_call.get(), page_size=request.page_size, page_token=request.page_token
        )
        return auth_pb2.ListApiKeysResponse(
            api_keys=[convert.api_key(k) for k in page.items], next_page_token=page.next_page_token
        )

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.RevokeApiKeyResponse:
        await self._auth.revoke_api_key(current_call.get(), key_id=request.key_id)
        return auth_pb2.RevokeApiKeyResponse()
