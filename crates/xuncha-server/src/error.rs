//! API errors: an HTTP status and an [`ErrorBody`] with a stable code and a message that
//! says what to do, in Chinese and English.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use xuncha_protocol::{ErrorBody, ErrorCode, codes};

use crate::storage::StorageError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "设备未登记或令牌无效，请重新注册设备 / unknown device token; enroll the device again",
        )
    }

    pub fn disabled() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            codes::USER_DISABLED,
            "此用户已被管理员停用，请联系巡察办 / this user was disabled by the administrator; ask the office",
        )
    }

    pub fn expired() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::TOKEN_EXPIRED,
            "设备令牌已过期，请向管理员索取注册码重新注册 / the device token has expired; ask the administrator for a code and enroll again",
        )
    }

    pub fn revoked() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            codes::REVOKED,
            "此设备已被注销，请清除本机数据 / this device was revoked: wipe its local data",
        )
    }

    pub fn bad_body(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_BODY,
            format!(
                "请求无法读取：{detail}；请重试，如仍失败请更新应用 / the request could not be read: {detail}; retry, and update the app if it persists"
            ),
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "服务器内部错误，已记录；请稍后重试 / internal server error (logged); retry later",
        )
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> ApiError {
        match error {
            StorageError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message),
            StorageError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("找不到 {what} / no such {what}"))
            }
            StorageError::BadCode(message) => ApiError::new(StatusCode::FORBIDDEN, codes::BAD_ENROLLMENT_CODE, message),
            StorageError::Resume(held) => ApiError::new(
                StatusCode::CONFLICT,
                codes::RESUME,
                format!("请从第 {held} 字节续传 / resume from byte {held}"),
            ),
            StorageError::Busy(detail) => {
                tracing::warn!(%detail, "a transaction kept colliding with others");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Busy,
                    "服务器繁忙，请稍后重试 / the server is busy; retry in a moment",
                )
            }
            StorageError::Backend(detail) | StorageError::Key(detail) => ApiError::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { code: self.code, message: self.message })).into_response()
    }
}
