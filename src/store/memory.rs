//! An in-memory [`TokenStore`](super::TokenStore) for tests.
//!
//! Users and tokens live in two ordered maps behind one `RwLock`, so every
//! method is a single critical section and compare-and-swap is trivially
//! atomic. Nothing is persisted; `sync` only counts its callers.

use std::collections::{BTreeMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    count_failure, ApiKey, LockRule, SourceLock, StoreError, Token, TokenState, TokenStore, User,
};

#[derive(Debug, Default)]
struct Inner {
    users: BTreeMap<String, User>,
    tokens: BTreeMap<String, Token>,
    api_keys: BTreeMap<String, ApiKey>,
    /// (user, source) → lockout state (`[lockout] scope = "user+source"`).
    source_locks: BTreeMap<(String, String), SourceLock>,
}

/// Users and tokens in memory; `sync` is a no-op.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-changed
        // (every change is a single map operation), so poison is ignored.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryStore {
    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.read().users.get(name).cloned())
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        Ok(self.read().users.values().cloned().collect())
    }

    fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        super::sql::check_lists(user)?;
        let mut g = self.write();
        if g.users.contains_key(&user.name) {
            return Err(StoreError::UserExists(user.name.clone()));
        }
        g.users.insert(user.name.clone(), user.clone());
        Ok(())
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        super::sql::check_lists(user)?;
        let mut g = self.write();
        match g.users.get_mut(&user.name) {
            Some(u) => {
                *u = user.clone();
                Ok(())
            }
            None => Err(StoreError::NoSuchUser(user.name.clone())),
        }
    }

    fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        let mut g = self.write();
        if g.users.remove(name).is_none() {
            return Err(StoreError::NoSuchUser(name.to_string()));
        }
        g.tokens.retain(|_, t| t.owner != name);
        g.source_locks.retain(|(u, _), _| u != name);
        Ok(())
    }

    fn source_lock(&self, user: &str, source: &str) -> Result<Option<SourceLock>, StoreError> {
        Ok(self
            .read()
            .source_locks
            .get(&(user.to_string(), source.to_string()))
            .cloned())
    }

    fn source_locks(&self, user: &str) -> Result<Vec<SourceLock>, StoreError> {
        Ok(self
            .read()
            .source_locks
            .iter()
            .filter(|((u, _), _)| u == user)
            .map(|(_, l)| l.clone())
            .collect())
    }

    fn record_source_failure(
        &self,
        user: &str,
        source: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<SourceLock>, StoreError> {
        let mut g = self.write();
        if !g.users.contains_key(user) {
            return Ok(None);
        }
        let l = g
            .source_locks
            .entry((user.to_string(), source.to_string()))
            .or_insert_with(|| SourceLock {
                source: source.to_string(),
                failures: 0,
                locked_until: None,
            });
        count_failure(&mut l.failures, &mut l.locked_until, now, rule);
        Ok(Some(l.clone()))
    }

    fn clear_source_locks(&self, user: &str, source: Option<&str>) -> Result<(), StoreError> {
        self.write()
            .source_locks
            .retain(|(u, s), _| u != user || source.is_some_and(|src| src != s));
        Ok(())
    }

    fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        Ok(self.read().tokens.get(id).cloned())
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self.read().tokens.values().cloned().collect())
    }

    fn tokens_of(&self, owner: &str) -> Result<Vec<Token>, StoreError> {
        Ok(self
            .read()
            .tokens
            .values()
            .filter(|t| t.owner == owner)
            .cloned()
            .collect())
    }

    fn insert_token(&self, token: &Token) -> Result<(), StoreError> {
        let mut g = self.write();
        if !token.owner.is_empty() && !g.users.contains_key(&token.owner) {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        }
        if g.tokens.contains_key(&token.id) {
            return Err(StoreError::TokenExists(token.id.clone()));
        }
        serial_free(&g, token)?;
        g.tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    fn update_token(&self, token: &Token) -> Result<(), StoreError> {
        let mut g = self.write();
        if !g.tokens.contains_key(&token.id) {
            return Err(StoreError::NoSuchToken(token.id.clone()));
        }
        if !token.owner.is_empty() && !g.users.contains_key(&token.owner) {
            return Err(StoreError::NoSuchUser(token.owner.clone()));
        }
        serial_free(&g, token)?;
        g.tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        match self.write().tokens.remove(id) {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchToken(id.to_string())),
        }
    }

    fn commit_use(
        &self,
        id: &str,
        expected_last: Option<u64>,
        new_last: u64,
        drift: i64,
        now: u64,
        activate: bool,
    ) -> Result<bool, StoreError> {
        let mut g = self.write();
        let t = g
            .tokens
            .get_mut(id)
            .ok_or_else(|| StoreError::NoSuchToken(id.to_string()))?;
        if t.last != expected_last {
            return Ok(false);
        }
        t.last = Some(new_last);
        t.drift = drift;
        t.last_used = Some(now);
        if activate && t.state == TokenState::Pending {
            t.state = TokenState::Active;
        }
        Ok(true)
    }

    fn record_failure(
        &self,
        name: &str,
        now: u64,
        rule: LockRule,
    ) -> Result<Option<User>, StoreError> {
        let mut g = self.write();
        Ok(g.users.get_mut(name).map(|u| {
            count_failure(&mut u.failures, &mut u.locked_until, now, rule);
            u.clone()
        }))
    }

    fn record_success(&self, name: &str, now: u64) -> Result<(), StoreError> {
        let mut g = self.write();
        let u = g
            .users
            .get_mut(name)
            .ok_or_else(|| StoreError::NoSuchUser(name.to_string()))?;
        u.failures = 0;
        u.locked_until = None;
        u.last_success = Some(now);
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn counts(&self) -> Result<(usize, usize), StoreError> {
        let g = self.read();
        Ok((g.users.len(), g.tokens.len()))
    }

    fn import(&self, users: &[User], tokens: &[Token]) -> Result<(), StoreError> {
        for u in users {
            super::sql::check_lists(u)?;
        }
        let mut g = self.write();
        let new_users: HashSet<&str> = users.iter().map(|u| u.name.as_str()).collect();
        let mut seen = HashSet::with_capacity(tokens.len());
        for t in tokens {
            if g.tokens.contains_key(&t.id) || !seen.insert(t.id.as_str()) {
                return Err(StoreError::TokenExists(t.id.clone()));
            }
            if !t.owner.is_empty()
                && !g.users.contains_key(&t.owner)
                && !new_users.contains(t.owner.as_str())
            {
                return Err(StoreError::NoSuchUser(t.owner.clone()));
            }
        }
        super::sql::check_import_serials(tokens, &mut |s| {
            Ok(g.tokens.values().any(|t| t.serial.as_deref() == Some(s)))
        })?;
        for u in users {
            g.users.entry(u.name.clone()).or_insert_with(|| u.clone());
        }
        for t in tokens {
            g.tokens.insert(t.id.clone(), t.clone());
        }
        Ok(())
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        Ok(self.read().api_keys.values().cloned().collect())
    }

    fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut g = self.write();
        if g.api_keys.contains_key(&key.name) {
            return Err(StoreError::ApiKeyExists(key.name.clone()));
        }
        g.api_keys.insert(key.name.clone(), key.clone());
        Ok(())
    }

    fn delete_api_key(&self, name: &str) -> Result<(), StoreError> {
        match self.write().api_keys.remove(name) {
            Some(_) => Ok(()),
            None => Err(StoreError::NoSuchApiKey(name.to_string())),
        }
    }

    fn touch_api_key(&self, name: &str, now: u64) -> Result<(), StoreError> {
        if let Some(k) = self.write().api_keys.get_mut(name) {
            k.last_used = Some(now);
        }
        Ok(())
    }
}

/// [`StoreError::SerialExists`] when another token holds `t`'s serial.
fn serial_free(g: &Inner, t: &Token) -> Result<(), StoreError> {
    match &t.serial {
        Some(s)
            if g.tokens
                .values()
                .any(|o| o.id != t.id && o.serial.as_ref() == Some(s)) =>
        {
            Err(StoreError::SerialExists(s.clone()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_the_shared_suite() {
        crate::store::conformance::suite(&|| Box::new(MemoryStore::new()));
    }
}
