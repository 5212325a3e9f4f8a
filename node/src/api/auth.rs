//! Login with Sign-In with Ethereum, and the bearer sessions it yields (docs/PROTOCOL.md, "Login").

use axum::{extract::FromRequestParts, http::request::Parts, Json};
use sha2::{Digest, Sha256};
use spoke_protocol::{
    hex, login_digest, recover_public_key, verify_login,
    wire::{ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse},
    Address, Login, PublicKey, B256,
};

use super::{error::ApiJson, now, random_bytes, ApiError, AppState};

/// `POST /auth/challenge`: a login message for `address` to sign, with a fresh single-use nonce.
pub async fn challenge(
    state: axum::extract::State<AppState>,
    ApiJson(request): ApiJson<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    let issued_at = now();
    let expires_at = issued_at + state.login_seconds;
    // 16 random bytes as hex: alphanumeric, as EIP-4361 requires of a nonce.
    let nonce = hex::encode(random_bytes::<16>()?);
    state.store.issue_login_nonce(&nonce, expires_at).await?;
    let login = Login {
        domain: state.domain.clone(),
        uri: format!("http://{}/auth/login", state.domain),
        address: request.address,
        chain_id: state.chain_id,
        nonce,
        issued_at,
        expires_at,
    };
    let message = login
        .to_text()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(ChallengeResponse {
        message,
        expires_at,
    }))
}

fn token_hash(token: &str) -> B256 {
    B256::from_slice(&Sha256::digest(token.as_bytes()))
}

/// `POST /auth/login`: exchanges a signed challenge for a session token that reaches only the signer's channel.
pub async fn login(
    state: axum::extract::State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let now = now();
    let login = verify_login(
        &request.message,
        &request.signature,
        &state.domain,
        state.chain_id,
        now,
    )
    .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    if !state.store.use_login_nonce(&login.nonce, now).await? {
        return Err(ApiError::unauthorized(
            "the login nonce is unknown, expired or already used",
        ));
    }
    // The key that signed the login is the key payers encrypt this user's preimages to.
    let public_key = recover_public_key(&login_digest(&request.message), &request.signature)
        .and_then(|key| PublicKey::from_sec1(&key))
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    state.store.set_user_key(login.address, &public_key).await?;
    let token = hex::encode(random_bytes::<32>()?);
    let expires_at = now + state.session_seconds;
    state
        .store
        .create_session(token_hash(&token), login.address, expires_at)
        .await?;
    Ok(Json(LoginResponse {
        token,
        address: login.address,
        expires_at,
    }))
}

/// The logged-in user of a request, from its `Authorization: Bearer` token.
#[derive(Debug, Clone, Copy)]
pub struct User(pub Address);

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("log in first: no Authorization header"))?;
    header
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not a Bearer token"))
}

/// The user of a live session token.
pub async fn user_of_token(state: &AppState, token: &str) -> Result<Address, ApiError> {
    match state.store.session_user(token_hash(token), now()).await? {
        Some(address) => Ok(address),
        None => Err(ApiError::unauthorized(
            "the session is unknown or expired: log in again",
        )),
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        user_of_token(state, token).await.map(User)
    }
}
