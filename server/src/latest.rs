//! Each site's latest plan as this replica knows it: the plans it holds in
//! memory (what `plans/latest` serves, without a query), and the newer
//! plans other replicas announced that it has not read yet.
//!
//! A replica does not read every plan another one publishes: with nobody
//! following its event stream it only notes the announcement (version,
//! start, publication time) and drops the older plan it held, so that the
//! next request reads the new one from the store once. The planning loop
//! needs no more than the announced start to know a site is planned.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};

use crate::Published;
use crate::store::Announcement;

/// The latest plans of the sites, held or announced.
#[derive(Debug, Default)]
pub struct LatestPlans {
    // One lock over both maps: a plan read from the store is kept only if
    // no newer one was announced meanwhile.
    known: RwLock<Known>,
}

#[derive(Debug, Default)]
struct Known {
    held: HashMap<String, Arc<Published>>,
    announced: HashMap<String, Announcement>,
}

impl LatestPlans {
    /// The site's latest plan, when this replica holds it (`None` also when
    /// a newer one was announced and is still to be read).
    pub fn get(&self, site: &str) -> Option<Arc<Published>> {
        self.known.read().ok()?.held.get(site).cloned()
    }

    /// Holds `published` unless a plan as new is held or a newer one was
    /// announced; true when it was held.
    pub fn adopt(&self, published: Arc<Published>) -> bool {
        let Ok(mut known) = self.known.write() else {
            return false;
        };
        let site = published.site_id.as_str();
        let outdated = known
            .held
            .get(site)
            .is_some_and(|held| held.version >= published.version)
            || known
                .announced
                .get(site)
                .is_some_and(|announced| announced.version > published.version);
        if outdated {
            return false;
        }
        known.announced.remove(site);
        known.held.insert(site.to_owned(), published);
        true
    }

    /// Notes a plan another replica published, dropping the older plan
    /// held for the site; false when it is not newer than what is known.
    pub fn announce(&self, announcement: Announcement) -> bool {
        let Ok(mut known) = self.known.write() else {
            return false;
        };
        let site = announcement.site_id.as_str();
        let newest = known
            .held
            .get(site)
            .map(|held| held.version)
            .max(known.announced.get(site).map(|a| a.version));
        if newest.is_some_and(|version| version >= announcement.version) {
            return false;
        }
        known.held.remove(site);
        known
            .announced
            .insert(announcement.site_id.clone(), announcement);
        true
    }

    /// Whether the site's plan `version`, or a newer one, is known.
    pub fn knows(&self, site: &str, version: i64) -> bool {
        self.known.read().is_ok_and(|known| {
            known.held.get(site).is_some_and(|p| p.version >= version)
                || known
                    .announced
                    .get(site)
                    .is_some_and(|a| a.version >= version)
        })
    }

    /// Whether a newer plan than the one held (if any) was announced and is
    /// still to be read.
    pub fn unread(&self, site: &str) -> bool {
        self.known
            .read()
            .is_ok_and(|known| known.announced.contains_key(site))
    }

    /// The first interval's start of the site's latest plan, held or
    /// announced.
    pub fn start(&self, site: &str) -> Option<DateTime<Utc>> {
        let known = self.known.read().ok()?;
        let held = known.held.get(site).map(|p| p.start);
        held.max(known.announced.get(site).map(|a| a.start))
    }

    /// When each site's latest plan was published.
    pub fn published_at(&self) -> Vec<(String, DateTime<Utc>)> {
        let Ok(known) = self.known.read() else {
            return Vec::new();
        };
        let held = known
            .held
            .values()
            .map(|p| (p.site_id.clone(), p.created_at));
        let announced = known
            .announced
            .values()
            .map(|a| (a.site_id.clone(), a.created_at));
        held.chain(announced).collect()
    }

    /// The documents of the plans held.
    pub fn documents(&self) -> Vec<Bytes> {
        self.known
            .read()
            .map(|known| known.held.values().map(|p| p.body.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(version: i64, start: &str) -> Arc<Published> {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        Arc::new(Published {
            site_id: "a".to_owned(),
            version,
            etag: format!("\"a-{version}\""),
            created_at: at("2026-11-21T10:00:00Z"),
            start: at(start),
            body: Bytes::from_static(b"{}"),
            outline: Default::default(),
        })
    }

    fn announced(version: i64, start: &str) -> Announcement {
        Announcement {
            site_id: "a".to_owned(),
            version,
            start: start.parse().expect("start"),
            created_at: "2026-11-21T11:00:00Z".parse().expect("created"),
        }
    }

    #[test]
    fn an_announced_plan_drops_the_older_one_held_and_keeps_older_reads_out() {
        let latest = LatestPlans::default();
        assert!(latest.adopt(plan(1, "2026-11-21T10:00:00Z")));
        assert!(!latest.adopt(plan(1, "2026-11-21T10:00:00Z")));
        assert!(latest.announce(announced(2, "2026-11-21T11:00:00Z")));
        assert!(latest.get("a").is_none() && latest.unread("a"));
        assert_eq!(
            latest.start("a"),
            Some("2026-11-21T11:00:00Z".parse().expect("start"))
        );
        assert!(latest.knows("a", 2) && !latest.knows("a", 3));
        // A read of version 1 that raced the announcement is not kept.
        assert!(!latest.adopt(plan(1, "2026-11-21T10:00:00Z")));
        assert!(latest.get("a").is_none());
        // Reading version 2 replaces the announcement.
        assert!(latest.adopt(plan(2, "2026-11-21T11:00:00Z")));
        assert_eq!(latest.get("a").map(|p| p.version), Some(2));
        assert!(!latest.unread("a"));
        assert!(!latest.announce(announced(2, "2026-11-21T11:00:00Z")));
        assert_eq!(latest.published_at().len(), 1);
    }
}
