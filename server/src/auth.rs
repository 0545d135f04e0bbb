//! API keys and roles. A key is a random bearer token shown once at
//! creation; only its SHA-256 is stored. Each key has one role:
//!
//! | role | may |
//! |---|---|
//! | `controller` | for its named sites only: write telemetry, charging and jobs, request plans, read the site and its plans |
//! | `trader` | read everything; upload prices |
//! | `analyst` | read everything; run backtests |
//! | `admin` | read everything; create and update sites; read the audit log |
//!
//! Keys are created and revoked with `arbiter keys`. A missing, unknown or
//! revoked key is answered 401; a valid key without the right, 403.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{Store, StoreError, StoredKey, now};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A site controller, for its named sites.
    Controller,
    /// Reads everything; uploads prices.
    Trader,
    /// Reads everything; runs backtests.
    Analyst,
    /// Reads everything; manages sites.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Trader => "trader",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// Every role.
    pub const ALL: [Role; 4] = [Role::Controller, Role::Trader, Role::Analyst, Role::Admin];

    fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == text)
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        Role::parse(text).ok_or_else(|| {
            format!(
                "{} is not a role: controller, trader, analyst or admin",
                arbiter_optimizer::quote(text)
            )
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's public id (recorded in the audit table).
    pub key_id: String,
    /// Its role.
    pub role: Role,
    /// The sites a controller acts for.
    pub sites: Vec<String>,
}

/// Something a request does, checked against the caller's role.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// Read a site, its data or its plans.
    ReadSite(&'a str),
    /// Read what is not one site's: site lists, prices, backtests.
    ReadAll,
    /// Write a site's telemetry, charging or jobs, or request its plan.
    OperateSite(&'a str),
    /// Upload prices.
    UploadPrices,
    /// Create or update sites; read the audit log.
    ManageSites,
    /// Run backtests.
    RunBacktests,
}

impl Caller {
    /// Whether the caller may do `action`.
    pub fn may(&self, action: Action) -> bool {
        let own = |site: &str| self.sites.iter().any(|s| s == site);
        match (self.role, action) {
            (Role::Controller, Action::ReadSite(site) | Action::OperateSite(site)) => own(site),
            (Role::Controller, _) => false,
            (_, Action::ReadSite(_) | Action::ReadAll) => true,
            (Role::Trader, Action::UploadPrices) => true,
            (Role::Admin, Action::ManageSites) => true,
            (Role::Analyst, Action::RunBacktests) => true,
            _ => false,
        }
    }
}

/// The SHA-256 of a token, hex.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `N` random bytes, hex (tokens and ids).
pub fn random_hex<const N: usize>() -> String {
    rand::rng()
        .random::<[u8; N]>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Creates a key: stores its hash and returns it with its token (the only
/// time the token exists outside the caller's hands).
pub async fn create_key(
    store: &Store,
    role: Role,
    sites: &[String],
) -> Result<(StoredKey, String), StoreError> {
    let token = format!("arb_{}", random_hex::<32>());
    let key = StoredKey {
        id: format!("key_{}", random_hex::<6>()),
        role: role.name().to_owned(),
        sites: sites.to_vec(),
        created_at: now(),
        revoked_at: None,
    };
    store.insert_key(&key, &hash(&token)).await?;
    Ok((key, token))
}

/// How long a looked-up key is trusted before it is looked up again (a key
/// revoked from the command line stops working within this).
pub const KEY_CACHE_SECONDS: u64 = 5;

/// Looks keys up by token, caching them for [`KEY_CACHE_SECONDS`].
#[derive(Debug, Default)]
pub struct Keys {
    cache: RwLock<HashMap<String, (Instant, Option<Caller>)>>,
}

impl Keys {
    /// The cached answer for a token, when fresh: `Some(None)` for a token
    /// known to be invalid, `None` when the store must be asked. Cheap: no
    /// IO, so the hot paths call it on the async executor.
    pub fn cached(&self, token: &str) -> Option<Option<Caller>> {
        let fresh = Duration::from_secs(KEY_CACHE_SECONDS);
        let cache = self.cache.read().ok()?;
        let (at, caller) = cache.get(&hash(token))?;
        (at.elapsed() < fresh).then(|| caller.clone())
    }

    /// The caller with this token, if it is a valid key, from the store
    /// (and cached).
    pub async fn caller(&self, store: &Store, token: &str) -> Result<Option<Caller>, StoreError> {
        let hashed = hash(token);
        let caller = store.key_by_hash(&hashed).await?.and_then(|key| {
            Some(Caller {
                role: Role::parse(&key.role)?,
                key_id: key.id,
                sites: key.sites,
            })
        });
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(hashed, (Instant::now(), caller.clone()));
        }
        Ok(caller)
    }
}
