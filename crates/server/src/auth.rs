//! Who is calling: passwords (argon2id), opaque tokens stored as SHA-256
//! hashes, and the extractors every endpoint uses.

use crate::error::ApiError;
use crate::state::AppState;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use switchboard_core::access::Viewer;
use switchboard_core::{Role, UserId, WorkspaceId};

pub const SESSION_COOKIE: &str = "sb_session";
pub const SESSION_PREFIX: &str = "sbs_";
pub const API_TOKEN_PREFIX: &str = "sbt_";

/// 32 random bytes, base64url, with a prefix saying what kind of token.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens have 256 bits of entropy, so a fast hash is enough (no salt or
/// KDF needed), and lookups by hash are exact.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// argon2id with the crate's defaults (19 MiB, t=2, p=1: OWASP's minimum),
/// run off the async threads.
/// Argon2 takes 19 MiB per hash for its whole run. On tokio's blocking
/// pool a burst of logins would allocate that on many threads at once
/// (1,000 logins: 19 GB), and each thread's malloc arena keeps it
/// afterwards (seen: 620 MiB RSS after 1,000 logins). A fixed set of
/// hashing threads, one per core, is as fast and bounds both.
type HashJob = Box<dyn FnOnce() + Send>;

/// One queue per hashing thread, served in turn (every job costs the same),
/// so each thread waits on its own queue and can notice it is idle.
struct HashingThreads {
    queues: Vec<std::sync::mpsc::Sender<HashJob>>,
    next: std::sync::atomic::AtomicUsize,
}

fn hashing_threads() -> &'static HashingThreads {
    static THREADS: OnceLock<HashingThreads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let mut queues = Vec::new();
        for i in 0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) {
            let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
            let spawned = std::thread::Builder::new().name(format!("password-hash-{i}")).spawn(move || loop {
                match rx.recv_timeout(HASHING_IDLE) {
                    Ok(job) => job(),
                    // Idle: give the 19 MiB back until the next login.
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => release_blocks(),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
            });
            match spawned {
                Ok(_) => queues.push(tx),
                Err(e) => tracing::error!(error = %e, "could not start a password hashing thread"),
            }
        }
        HashingThreads { queues, next: std::sync::atomic::AtomicUsize::new(0) }
    })
}

/// Runs `f` on a hashing thread; None if none could be started.
async fn on_hashing_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let threads = hashing_threads();
    let n = threads.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let queue = threads.queues.get(n % threads.queues.len().max(1))?;
    queue
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .ok()?;
    rx.await.ok()
}

pub async fn hash_password(password: &str) -> Result<String, ApiError> {
    let pw = password.to_owned();
    on_hashing_thread(move || argon2_hash(pw.as_bytes()))
        .await
        .ok_or_else(|| ApiError::Internal("password hashing unavailable".into()))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A hashing thread that has had no job for this long frees its blocks: a
/// burst of logins reuses them, an idle server does not hold 19 MiB per
/// core for the one login an hour (idle RSS 45 → 26 MiB in demo mode).
const HASHING_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

thread_local! {
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's blocks (a no-op when it holds none). A buffer this
/// size is its own mapping, so freeing it returns the memory to the system.
fn release_blocks() {
    BLOCKS.with(|blocks| {
        if let Ok(mut b) = blocks.try_borrow_mut()
            && b.capacity() > 0
        {
            BLOCK_BYTES_HELD.fetch_sub(b.capacity() * std::mem::size_of::<argon2::Block>(), std::sync::atomic::Ordering::Relaxed);
            *b = Vec::new();
        }
    });
}

/// Argon2 block memory the process holds, all threads together.
static BLOCK_BYTES_HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Argon2 into this thread's reused 19 MiB of blocks: the crate's own
/// `hash_password` allocates them per call, and malloc keeps each freed
/// copy (seen: +19 MiB RSS per login up to ~240 MiB). Hashing threads live
/// for the process, so the memory is at most one buffer per core, freed
/// again when the thread idles (`HASHING_IDLE`).
fn argon2_into(argon: &Argon2, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), argon2::Error> {
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        let need = argon.params().block_count();
        if blocks.len() < need {
            let before = blocks.capacity();
            blocks.resize(need, argon2::Block::default());
            BLOCK_BYTES_HELD.fetch_add((blocks.capacity() - before) * std::mem::size_of::<argon2::Block>(), std::sync::atomic::Ordering::Relaxed);
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
    })
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), the same
/// format `Argon2::hash_password` writes, so stored hashes stay valid.
fn argon2_hash(password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{Output, ParamsString};
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
    let len = argon.params().output_len().unwrap_or(argon2::Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| argon2_into(&argon, password, salt_bytes, out).map_err(Into::into))?;
    let hash = PasswordHash {
        algorithm: argon2::Algorithm::default().ident(),
        version: Some(argon2::Version::default().into()),
        params: ParamsString::try_from(argon.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

fn argon2_verify(password: &[u8], phc: &str) -> bool {
    use argon2::password_hash::Output;
    let check = || -> Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(phc)?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(argon2::Version::try_from).transpose()?.unwrap_or_default();
        let params = argon2::Params::try_from(&parsed)?;
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return Ok(false) };
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let argon = Argon2::new(algorithm, version, params);
        let actual = Output::init_with(expected.len(), |out| argon2_into(&argon, password, salt_bytes, out).map_err(Into::into))?;
        // Output's equality is constant-time.
        Ok(actual == expected)
    };
    check().unwrap_or(false)
}

/// Verifies against `hash`, or against a fixed dummy hash when the account
/// does not exist, so both cases take the same time.
pub async fn verify_password(password: &str, hash: Option<String>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let pw = password.to_owned();
    let exists = hash.is_some();
    let result = on_hashing_thread(move || {
        let hash = hash.unwrap_or_else(|| DUMMY.get_or_init(|| argon2_hash(b"dummy-password").unwrap_or_default()).clone());
        argon2_verify(pw.as_bytes(), &hash)
    })
    .await
    .unwrap_or(false);
    exists && result
}

/// A token from `Authorization: Bearer …`, or — on WebSocket handshakes
/// only, since browsers cannot set headers there — from `?token=`. Nowhere
/// else from the query: URLs end up in logs.
pub fn header_or_socket_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    let q = parts.uri.query().filter(|_| parts.uri.path().ends_with("/ws"))?;
    q.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_owned)
}

fn bearer_or_cookie(parts: &Parts) -> Option<String> {
    if let Some(t) = header_or_socket_token(parts) {
        return Some(t);
    }
    for cookies in parts.headers.get_all(header::COOKIE) {
        let Ok(s) = cookies.to_str() else { continue };
        for c in s.split(';') {
            if let Some((k, v)) = c.trim().split_once('=')
                && k == SESSION_COOKIE {
                    return Some(v.to_owned());
                }
        }
    }
    None
}

/// An authenticated user. `only_workspace` is set for API tokens, which act
/// inside the one workspace they were made for.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user_id: UserId,
    pub only_workspace: Option<WorkspaceId>,
    /// The presented session token (absent for API tokens): logout revokes it.
    pub session_token: Option<String>,
    /// Hash of the presented token, to re-check it later (open sockets).
    pub token_hash: String,
}

impl Authed {
    /// Whether the credential this request came with is still valid.
    pub async fn still_valid(&self, st: &AppState) -> bool {
        let found = if self.only_workspace.is_some() {
            st.store.api_token_owner(&self.token_hash).await.map(|o| o.map(|(_, u)| u))
        } else {
            st.store.session_user(&self.token_hash, st.now()).await
        };
        // A database hiccup is not a revocation.
        found.map_or(true, |user| user == Some(self.user_id))
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(a) = parts.extensions.get::<Authed>() {
            return Ok(a.clone());
        }
        let token = bearer_or_cookie(parts).ok_or(ApiError::Unauthorized)?;
        let hash = token_hash(&token);
        let authed = if token.starts_with(API_TOKEN_PREFIX) {
            let (ws, user) = state.store.api_token_owner(&hash).await?.ok_or(ApiError::Unauthorized)?;
            Authed { user_id: user, only_workspace: Some(ws), session_token: None, token_hash: hash }
        } else {
            let user = state.store.session_user(&hash, state.now()).await?.ok_or(ApiError::Unauthorized)?;
            Authed { user_id: user, only_workspace: None, session_token: Some(token), token_hash: hash }
        };
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

/// A member acting inside the workspace named by `{workspace_id}` in the
/// path. Not a member (or an API token of another workspace) → 404: a
/// workspace you cannot enter does not exist for you.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub viewer: Viewer,
}

impl Ctx {
    pub fn ws(&self) -> WorkspaceId {
        self.viewer.workspace_id
    }
    pub fn user(&self) -> UserId {
        self.viewer.user_id
    }
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.viewer.role.at_least(role) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let authed = Authed::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| ApiError::NotFound)?;
        let ws = params
            .iter()
            .find(|(k, _)| *k == "workspace_id")
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .map(WorkspaceId)
            .ok_or(ApiError::NotFound)?;
        if authed.only_workspace.is_some_and(|only| only != ws) {
            return Err(ApiError::NotFound);
        }
        let viewer = state.store.viewer(ws, authed.user_id).await?.ok_or(ApiError::NotFound)?;
        Ok(Ctx { viewer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let a = new_token(SESSION_PREFIX);
        let b = new_token(SESSION_PREFIX);
        assert!(a.starts_with("sbs_") && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[tokio::test]
    async fn hashing_threads_give_their_memory_back_when_idle() {
        let held = || BLOCK_BYTES_HELD.load(std::sync::atomic::Ordering::Relaxed);
        let h = hash_password("correct horse").await.unwrap();
        assert!(verify_password("correct horse", Some(h)).await);
        assert!(held() >= 19 * 1024 * 1024, "a hashing thread holds its blocks right after a hash: {}", held());
        tokio::time::sleep(HASHING_IDLE * 2 + std::time::Duration::from_millis(500)).await;
        assert_eq!(held(), 0, "idle hashing threads released their blocks");
    }

    #[tokio::test]
    async fn passwords_verify_only_with_the_right_secret() {
        let h = hash_password("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(h.clone())).await);
        assert!(!verify_password("wrong horse", Some(h)).await);
        assert!(!verify_password("correct horse", None).await);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod argon2_tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn reused_memory_hashes_match_the_crates_own_format_both_ways() {
        // Ours → the crate's verifier (and ours).
        let ours = argon2_hash(b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2_verify(b"correct horse", &ours));
        assert!(!argon2_verify(b"wrong horse", &ours));
        // Hashes stored before (written by the crate) still verify.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"battery staple", &salt).unwrap().to_string();
        assert!(argon2_verify(b"battery staple", &theirs));
        assert!(!argon2_verify(b"battery stapler", &theirs));
        assert!(!argon2_verify(b"x", "not a phc string"));
    }

    #[test]
    fn released_blocks_are_freed_and_the_next_hash_still_verifies() {
        let held = || BLOCKS.with(|b| b.borrow().capacity());
        let first = argon2_hash(b"correct horse").unwrap();
        assert!(held() >= 19 * 1024, "the thread keeps its blocks between hashes");
        release_blocks();
        assert_eq!(held(), 0);
        release_blocks();
        assert!(argon2_verify(b"correct horse", &first), "hashing again after a release");
        assert!(held() > 0);
    }
}
