//! Shared by every dialect: the `Authorization` header to an account.
//! Each dialect maps the failure into its own envelope.

use crate::state::AppState;
use axum::http::HeaderMap;
use mouthpiece_domain::{Account, AuthFailure, DomainError};

pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Account, DomainError> {
    let value = match headers.get(axum::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            DomainError::Unauthorized(AuthFailure::Invalid("the header is not ASCII".into()))
        })?),
    };
    let client = headers
        .get(crate::request_id::CLIENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let account = state
        .services
        .accounts
        .authenticate_client(value, client)
        .await?;
    if let Some(rates) = &state.rates {
        rates.check(&account.id)?;
    }
    Ok(account)
}
