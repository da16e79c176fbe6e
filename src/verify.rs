//! The one verification path, shared by the daemon and `radotp otp check`.
//!
//! [`Verifier::verify`] looks the user up, applies the policy (disabled,
//! locked), searches every active token's candidates (PIN followed by the
//! code) with a caller-supplied matcher — a PAP comparison, a CHAP hash, an
//! MS-CHAP NT-Response — commits the matched step/counter by
//! compare-and-swap, makes it durable, and counts failures towards lockout.
//! It returns an [`Outcome`] with a precise [`Reason`] for the logs; a RADIUS
//! client only ever sees Accept or Reject.

use std::fmt;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
pub use crate::config::LockScope;
use crate::otp::{self, Algorithm, Kind, TokenView, WindowPolicy};
use crate::secret::Secret;
use crate::store::{
    Failure, LockRule, SourceLock, StoreError, Token, TokenState, TokenStore, UseCommit, User,
};

/// Where a verifier in deferred mode leaves the failures it counts: the
/// daemon's commit thread, which writes them with its next batch. Rejects
/// therefore never wait for the store; the failures still waiting are
/// counted in the lock check ([`FailureSink::pending`]), so a burst of
/// guesses faster than the commits gets no more than the lockout allows.
pub trait FailureSink: Send + Sync {
    /// Queues one failure.
    fn push(&self, failure: Failure);
    /// Failures of `user` queued and not yet written: those counted
    /// against the user's own row (`source` `None`), or against the user
    /// from `source` (`[lockout] scope = "user+source"`).
    fn pending(&self, user: &str, source: Option<&str>) -> u32;
}

/// The policy the verifier applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The OTP search window.
    pub window: WindowPolicy,
    /// Consecutive failures that lock a user (0: never).
    pub lockout_threshold: u32,
    /// The first lock, seconds.
    pub lockout_secs: u64,
    /// The longest lock, seconds: each lock after the first lasts twice
    /// the one before, up to this.
    pub lockout_max_secs: u64,
    /// What the failures count against (`[lockout] scope`).
    pub lockout_scope: LockScope,
}

impl Policy {
    /// The verification policy of `config`: the OTP window and the
    /// lockout rule. The daemon (at start and on every reload), the admin
    /// path and `radotp otp check` all build theirs here.
    pub fn of(config: &Config) -> Policy {
        Policy {
            window: config.window(),
            lockout_threshold: config.lockout.threshold,
            lockout_secs: config.lockout.duration_secs,
            lockout_max_secs: config.lockout.max_duration_secs,
            lockout_scope: config.lockout.lock_scope(),
        }
    }
}

/// The source of a request for [`LockScope::UserSource`]: the client's
/// name, and `/` and the Calling-Station-Id where the request has one
/// (control characters replaced by `?`, so that `radotp user show` prints
/// what the NAS sent without letting it drive the terminal).
pub fn source_of(client: &str, calling_station: Option<&[u8]>) -> String {
    match calling_station {
        Some(c) if !c.is_empty() => {
            let station: String = String::from_utf8_lossy(c)
                .chars()
                .map(|ch| if ch.is_control() { '?' } else { ch })
                .collect();
            format!("{client}/{station}")
        }
        _ => client.to_string(),
    }
}

impl Policy {
    /// The lockout rule the store applies.
    pub fn lock_rule(&self) -> LockRule {
        LockRule {
            threshold: self.lockout_threshold,
            lock_secs: self.lockout_secs,
            max_lock_secs: self.lockout_max_secs,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            window: WindowPolicy::default(),
            lockout_threshold: 10,
            lockout_secs: 300,
            lockout_max_secs: 172_800,
            lockout_scope: LockScope::User,
        }
    }
}

/// Why a request was rejected (for logs and metrics, never for the NAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// No such user.
    UnknownUser,
    /// The user is disabled.
    UserDisabled,
    /// Too many failures; locked for a while.
    Locked,
    /// The user has no active token.
    NoActiveToken,
    /// PAP: the password does not start with the user's PIN.
    WrongPin,
    /// No candidate matched.
    WrongCode,
    /// The code was valid but already used.
    ReplayedCode,
    /// The user is in none of the groups the client allows
    /// (`[[client]] allow_groups`).
    NotAllowed,
    /// The store failed.
    StoreError,
}

impl Reason {
    /// Every reason, in the order of their counters.
    pub const ALL: [Reason; 9] = [
        Reason::UnknownUser,
        Reason::UserDisabled,
        Reason::Locked,
        Reason::NoActiveToken,
        Reason::WrongPin,
        Reason::WrongCode,
        Reason::ReplayedCode,
        Reason::NotAllowed,
        Reason::StoreError,
    ];

    /// Short snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownUser => "unknown_user",
            Reason::UserDisabled => "user_disabled",
            Reason::Locked => "locked",
            Reason::NoActiveToken => "no_active_token",
            Reason::WrongPin => "wrong_pin",
            Reason::WrongCode => "wrong_code",
            Reason::ReplayedCode => "replayed_code",
            Reason::NotAllowed => "not_allowed",
            Reason::StoreError => "store_error",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
// Returned once per verification and matched at once, never stored in bulk:
// boxing the Accept would cost an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A candidate matched and its step/counter is committed.
    Accept(Accepted),
    /// Nothing matched, or the policy refused.
    Reject(Reason),
    /// PAP, with [`Options::pin_only_challenge`]: the password is the
    /// user's PIN alone (or empty, for a challenge user without a PIN), and
    /// the user may log in: ask for the code in a second step. Nothing is
    /// committed or counted.
    PinOnly,
}

/// What an Accept knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The token that matched.
    pub token_id: String,
    /// The TOTP step or HOTP counter that matched.
    pub counter: u64,
    /// TOTP: matched step − current step.
    pub offset: i64,
    /// The matching cleartext (PIN + code), for MS-CHAP key derivation.
    pub password: Secret,
    /// Deferred mode: the change that must be committed (and win) before
    /// the Accept may be sent. `None`: already committed (or a dry run).
    pub commit: Option<UseCommit>,
    /// The user's groups, most specific first (for the reply attributes).
    pub groups: Vec<String>,
    /// The user's own reply attributes, as stored.
    pub replies: Vec<(String, String)>,
}

/// Options of one verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options<'a> {
    /// Put the user's PIN in front of each code (false in the second step of
    /// the challenge flow, where the PIN was checked in the first step).
    pub with_pin: bool,
    /// Look but do not touch: no commit, no failure counted.
    pub dry_run: bool,
    /// First step of the PAP challenge flow: answer [`Outcome::PinOnly`]
    /// when the password is the PIN alone. Checked on the record the
    /// verification reads anyway, so a PAP request reads the user once.
    pub pin_only_challenge: bool,
    /// Search only this token of the user (the HTTP API's `serial`); the
    /// others are left out as if they were not active.
    pub token: Option<&'a str>,
    /// Only members of one of these groups may log in (the client's
    /// `allow_groups`); `None`: everybody.
    pub allow_groups: Option<&'a [String]>,
    /// Where the request comes from (see [`source_of`]): under
    /// [`LockScope::UserSource`] the failures count against the user from
    /// here, and a lock refuses here only. `None`: the user's own count.
    pub source: Option<&'a str>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            with_pin: true,
            dry_run: false,
            pin_only_challenge: false,
            token: None,
            allow_groups: None,
            source: None,
        }
    }
}

/// The verifier: store, clock and policy.
pub struct Verifier {
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    decoy_seed: [u8; 20],
    deferred: Option<Arc<dyn FailureSink>>,
    /// Striped per-user locks: one verification of a user at a time, so
    /// that the lock check and the failure count cannot race (a burst of
    /// concurrent guesses gets no more than `lockout_threshold` evaluated).
    user_locks: Arc<Vec<std::sync::Mutex<()>>>,
    lock_hasher: std::collections::hash_map::RandomState,
}

const USER_LOCK_STRIPES: usize = 64;

/// A user's `last_success` is refreshed on an Accept only when it is at
/// least this old (or failures or a lock need clearing).
pub const SUCCESS_RESOLUTION_SECS: u64 = 60;

/// Window searches every reject performs at least (token searches, replay
/// look-backs, decoys): the work of a user with two used tokens. Users with
/// more tokens take longer; that tells the number of tokens, not whether
/// the user exists.
const PAD_SEARCHES: usize = 4;

impl Verifier {
    /// A verifier over a store and a clock.
    pub fn new(store: Arc<dyn TokenStore>, clock: Arc<dyn Clock>, policy: Policy) -> Self {
        Verifier {
            store,
            clock,
            policy,
            decoy_seed: rand::random(),
            deferred: None,
            user_locks: Arc::new(
                (0..USER_LOCK_STRIPES)
                    .map(|_| std::sync::Mutex::new(()))
                    .collect(),
            ),
            lock_hasher: Default::default(),
        }
    }

    /// A verifier that writes nothing itself: an Accept carries the
    /// [`UseCommit`] the caller must pass to [`TokenStore::commit`] (once
    /// for a whole batch) and see win before it sends the Accept, and
    /// failures go to `sink`. The daemon's commit thread does both.
    pub fn with_deferred_commit(mut self, sink: Arc<dyn FailureSink>) -> Self {
        self.deferred = Some(sink);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The clock's time.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (config reload).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// A verifier with another policy (config reload) sharing everything
    /// else with this one: store, clock, failure sink and the per-user
    /// stripes, so that the old and the new one never verify the same user
    /// at once.
    pub fn with_policy(&self, policy: Policy) -> Verifier {
        Verifier {
            store: self.store.clone(),
            clock: self.clock.clone(),
            policy,
            decoy_seed: self.decoy_seed,
            deferred: self.deferred.clone(),
            user_locks: self.user_locks.clone(),
            lock_hasher: self.lock_hasher.clone(),
        }
    }

    /// Verifies `user` with `matches(candidate)`; `pap_password` (PAP only)
    /// lets a wrong PIN be told apart from a wrong code in the logs.
    pub fn verify(
        &self,
        user_name: &str,
        opts: Options<'_>,
        pap_password: Option<&[u8]>,
        matches: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Outcome, StoreError> {
        let stripe = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = self.lock_hasher.build_hasher();
            h.write(user_name.as_bytes());
            h.finish() as usize % USER_LOCK_STRIPES
        };
        let _serial = self
            .user_locks
            .get(stripe)
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()));
        let now = self.clock.now();
        let source = match self.policy.lockout_scope {
            LockScope::User => None,
            LockScope::UserSource => opts.source,
        };
        let (found, pending) = self.read_user(user_name, source)?;
        let Some((user, all_tokens, source_lock)) = found else {
            self.decoys(now, matches, PAD_SEARCHES);
            return Ok(Outcome::Reject(Reason::UnknownUser));
        };
        let source_locked = source_lock.as_ref().is_some_and(|l| l.locked_at(now));
        // A user the client does not allow learns nothing more than an
        // unknown one: no challenge, no failure counted (the device, not
        // a guess, is what is wrong), the same padded work.
        let allowed = opts
            .allow_groups
            .is_none_or(|allow| user.groups.iter().any(|g| allow.contains(g)));
        if !allowed && user.enabled {
            self.decoys(now, matches, PAD_SEARCHES);
            return Ok(Outcome::Reject(Reason::NotAllowed));
        }
        if let (true, Some(pw)) = (opts.pin_only_challenge, pap_password) {
            let pin_only = match &user.pin {
                // The PIN's length must not show in the time either.
                Some(pin) => crate::secret::ct_eq_hiding_len(pin.expose(), pw),
                None => user.challenge && pw.is_empty(),
            };
            if pin_only && user.enabled && !user.locked_at(now) && !source_locked {
                return Ok(Outcome::PinOnly);
            }
        }
        if !user.enabled {
            self.decoys(now, matches, PAD_SEARCHES);
            return Ok(Outcome::Reject(Reason::UserDisabled));
        }
        if user.locked_at(now)
            || source_locked
            || self.lock_pending(&user, (source, pending), source_lock.as_ref())
        {
            self.decoys(now, matches, PAD_SEARCHES);
            return Ok(Outcome::Reject(Reason::Locked));
        }
        let tokens: Vec<&Token> = all_tokens
            .iter()
            .filter(|t| t.state == TokenState::Active && opts.token.is_none_or(|id| t.id == id))
            .collect();
        if tokens.is_empty() {
            self.decoys(now, matches, PAD_SEARCHES);
            self.fail(&user, source, now, opts)?;
            return Ok(Outcome::Reject(Reason::NoActiveToken));
        }
        let pin: &[u8] = match (&user.pin, opts.with_pin) {
            (Some(p), true) => p.expose(),
            _ => &[],
        };
        let mut buf = Vec::with_capacity(pin.len() + 8);
        let mut searches = tokens.len();
        // The failure count and lock need clearing only when set;
        // last_success is kept to the minute, so that a steady user costs
        // one write (the token's) per Accept.
        let stale = user
            .last_success
            .is_none_or(|t| now.saturating_sub(t) >= SUCCESS_RESOLUTION_SECS);
        let clear_user = user.failures != 0 || user.locked_until.is_some() || stale;
        // Under scope user+source a success clears its source's row too,
        // when there is one.
        let clear_source = source.filter(|_| source_lock.is_some());
        for token in &tokens {
            let clear = (clear_user, clear_source);
            if let Some(mut accepted) =
                self.try_token(token, pin, now, opts, clear, &mut buf, matches)?
            {
                accepted.groups = user.groups.clone();
                accepted.replies = user.replies.clone();
                return Ok(Outcome::Accept(accepted));
            }
        }
        // Nothing matched: tell a replay from a wrong code, and a wrong PIN.
        let (replayed, looked_back) = self.was_replayed(&tokens, pin, now, &mut buf, matches);
        searches += looked_back;
        // Pad the work to a fixed number of window searches so that a reject
        // takes as long for a user with one or two tokens, used or not, as
        // for an unknown, disabled or locked one.
        self.decoys(now, matches, PAD_SEARCHES.saturating_sub(searches));
        let reason = if replayed {
            Reason::ReplayedCode
        } else if let (Some(pw), Some(p), true) = (pap_password, &user.pin, opts.with_pin) {
            if pw.len() >= p.len() && crate::secret::ct_eq(&pw[..p.len()], p.expose()) {
                Reason::WrongCode
            } else {
                Reason::WrongPin
            }
        } else {
            Reason::WrongCode
        };
        self.fail(&user, source, now, opts)?;
        Ok(Outcome::Reject(reason))
    }

    /// Would a failure waiting in the sink lock the user (from `source`,
    /// whose stored row is `stored`) once written?
    /// The user's row, tokens and (scope "user+source") source lock, with
    /// the failures still pending in the commit queue, read in an order
    /// that never undercounts: the pending count is read *before* the
    /// store. The commit thread writes failures to the store first and
    /// settles them from the pending count after, so a failure settled
    /// before the first read is in the store read that follows, and one not
    /// yet settled is in the count. (Read after the store, a batch committed
    /// in between would be in neither, and one more guess than the
    /// threshold would be evaluated.) The count can only fall while the
    /// user's stripe lock is held, so when it fell during the read the
    /// failures were just written and the store is read again (bounded),
    /// to keep the same failure from being counted twice.
    #[allow(clippy::type_complexity)]
    fn read_user(
        &self,
        user_name: &str,
        source: Option<&str>,
    ) -> Result<(Option<(User, Vec<Token>, Option<SourceLock>)>, u32), StoreError> {
        let pending_now = || {
            self.deferred
                .as_ref()
                .map_or(0, |s| s.pending(user_name, source))
        };
        let mut tries = 0;
        loop {
            let before = pending_now();
            let found = match source {
                None => self
                    .store
                    .user_with_tokens(user_name)?
                    .map(|(u, t)| (u, t, None)),
                Some(src) => self.store.user_with_tokens_from(user_name, src)?,
            };
            tries += 1;
            if before == 0 || tries == 3 || pending_now() == before {
                return Ok((found, before));
            }
        }
    }

    fn lock_pending(
        &self,
        user: &User,
        (source, pending): (Option<&str>, u32),
        stored: Option<&SourceLock>,
    ) -> bool {
        let (Some(_), t) = (&self.deferred, self.policy.lockout_threshold) else {
            return false;
        };
        let failures = match source {
            None => user.failures,
            Some(_) => stored.map_or(0, |l| l.failures),
        };
        t != 0 && pending != 0 && (failures.saturating_add(pending)) / t > failures / t
    }

    #[allow(clippy::too_many_arguments)]
    fn try_token(
        &self,
        token: &Token,
        pin: &[u8],
        now: u64,
        opts: Options<'_>,
        (clear_user, clear_source): (bool, Option<&str>),
        buf: &mut Vec<u8>,
        matches: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Option<Accepted>, StoreError> {
        // A lost commit means a concurrent request committed this token
        // first; search again from its new state (bounded).
        let mut fresh;
        let mut token = token;
        for _ in 0..4 {
            let found = otp::find(&token.view(), now, &self.policy.window, |code| {
                candidate(buf, pin, code.as_bytes());
                matches(buf)
            });
            let Some(m) = found else {
                return Ok(None);
            };
            let current = current_counter(token, now);
            let commit = UseCommit {
                token: token.id.clone(),
                user: token.owner.clone(),
                expected_last: token.last,
                counter: m.counter,
                drift: m.drift,
                now,
                activate: false,
                clear_user,
                clear_source: clear_source.map(str::to_string),
            };
            let (won, commit) = if opts.dry_run {
                (true, None)
            } else if self.deferred.is_some() {
                (true, Some(commit))
            } else {
                (
                    self.store.commit(std::slice::from_ref(&commit), &[])? == [true],
                    None,
                )
            };
            if won {
                candidate(buf, pin, &[]);
                let password = {
                    let mut p = buf.clone();
                    let code = otp_code_at(token, m.counter);
                    p.extend_from_slice(code.as_bytes());
                    Secret::new(p)
                };
                return Ok(Some(Accepted {
                    token_id: token.id.clone(),
                    counter: m.counter,
                    offset: m.counter as i64 - current as i64,
                    password,
                    commit,
                    groups: Vec::new(),
                    replies: Vec::new(),
                }));
            }
            match self.store.token(&token.id)? {
                Some(t) => {
                    fresh = t;
                    token = &fresh;
                }
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Would a candidate have matched if replays were allowed?
    fn was_replayed(
        &self,
        tokens: &[&Token],
        pin: &[u8],
        now: u64,
        buf: &mut Vec<u8>,
        matches: &dyn Fn(&[u8]) -> bool,
    ) -> (bool, usize) {
        let mut searches = 0;
        for token in tokens {
            let Some(last) = token.last else { continue };
            searches += 1;
            let mut view = token.view();
            // Look back over the already-used steps only.
            view.last = match token.kind {
                Kind::Totp => None,
                Kind::Hotp => {
                    Some(last.saturating_sub(self.policy.window.hotp_lookahead as u64 + 2))
                }
            };
            let hit = otp::find(&view, now, &self.policy.window, |code| {
                candidate(buf, pin, code.as_bytes());
                matches(buf)
            });
            if hit.is_some_and(|m| m.counter <= last) {
                return (true, searches);
            }
        }
        (false, searches)
    }

    fn fail(
        &self,
        user: &User,
        source: Option<&str>,
        now: u64,
        opts: Options<'_>,
    ) -> Result<(), StoreError> {
        if opts.dry_run {
            return Ok(());
        }
        if let Some(sink) = &self.deferred {
            sink.push(Failure {
                user: user.name.clone(),
                now,
                rule: self.policy.lock_rule(),
                source: source.map(str::to_string),
            });
            return Ok(());
        }
        let rule = self.policy.lock_rule();
        match source {
            None => self.store.record_failure(&user.name, now, rule).map(drop)?,
            Some(src) => self
                .store
                .record_source_failure(&user.name, src, now, rule)
                .map(drop)?,
        }
        Ok(())
    }

    /// `n` decoy searches (see [`Verifier::decoy`]).
    fn decoys(&self, now: u64, matches: &dyn Fn(&[u8]) -> bool, n: usize) {
        for _ in 0..n {
            self.decoy(now, matches);
        }
    }

    /// Does the work of one token search, so that an unknown, disabled or
    /// locked user takes about as long as a known one with a wrong code.
    fn decoy(&self, now: u64, matches: &dyn Fn(&[u8]) -> bool) {
        let view = TokenView {
            kind: Kind::Totp,
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            seed: &self.decoy_seed,
            last: None,
            drift: 0,
        };
        let mut buf = Vec::with_capacity(16);
        let hit = otp::find(&view, now, &self.policy.window, |code| {
            candidate(&mut buf, b"\x00decoy\x00", code.as_bytes());
            matches(&buf)
        });
        std::hint::black_box(hit);
    }
}

fn candidate(buf: &mut Vec<u8>, pin: &[u8], code: &[u8]) {
    buf.clear();
    buf.extend_from_slice(pin);
    buf.extend_from_slice(code);
}

fn current_counter(token: &Token, now: u64) -> u64 {
    match token.kind {
        Kind::Totp => otp::step_at(now, token.period),
        Kind::Hotp => token.last.map_or(0, |l| l + 1),
    }
}

fn otp_code_at(token: &Token, counter: u64) -> otp::OtpCode {
    let v = otp::hotp(token.algorithm, token.seed.expose(), counter, token.digits);
    otp::OtpCode::new(v, token.digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::MemoryStore;

    const SEED: &[u8] = b"12345678901234567890";
    const T0: u64 = 1_700_000_010; // inside a step, 10 s after its start

    fn setup(pin: Option<&str>) -> (Verifier, Arc<MemoryStore>, Arc<FixedClock>) {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(FixedClock::new(T0));
        let mut u = User::new("alice", T0);
        u.pin = pin.map(Secret::from);
        store.insert_user(&u).unwrap();
        store
            .insert_token(&Token {
                id: "t-1".into(),
                owner: "alice".into(),
                serial: None,
                kind: Kind::Totp,
                algorithm: Algorithm::Sha1,
                digits: 6,
                period: 30,
                seed: Secret::new(SEED.to_vec()),
                last: None,
                drift: 0,
                state: TokenState::Active,
                description: String::new(),
                created: T0,
                last_used: None,
            })
            .unwrap();
        let v = Verifier::new(store.clone(), clock.clone(), Policy::default());
        (v, store, clock)
    }

    fn code_at(unix: u64) -> String {
        otp::OtpCode::new(otp::totp(Algorithm::Sha1, SEED, unix, 30, 6), 6)
            .as_str()
            .to_string()
    }

    fn pap(v: &Verifier, user: &str, pw: &str) -> Outcome {
        let pw = pw.as_bytes().to_vec();
        let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
        v.verify(user, Options::default(), Some(&pw), &m).unwrap()
    }

    /// The lockout bound stated in README (Lockout): an online guesser who
    /// tries again the moment each lock ends, for a simulated year on the
    /// default policy, gets few enough guesses evaluated that the chance
    /// of hitting one of the 2w+1 codes the window accepts stays under 1 %.
    #[test]
    fn lockout_bound_one_simulated_year_of_guessing_under_one_percent() {
        let (v, store, clock) = setup(None);
        let p = Policy::default();
        assert_eq!((p.lockout_threshold, p.lockout_secs), (10, 300));
        let year = 365 * 86_400;
        let end = T0 + year;
        let (mut evaluated, mut refused) = (0u64, 0u64);
        // A code that is never right: this test counts guesses, it does
        // not try to get lucky.
        while clock.now() < end {
            match pap(&v, "alice", "x") {
                Outcome::Reject(Reason::Locked) => {
                    refused += 1;
                    let until = store.user("alice").unwrap().unwrap().locked_until.unwrap();
                    clock.set(until);
                }
                Outcome::Reject(Reason::WrongCode) => {
                    evaluated += 1;
                    clock.advance(1);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // The same count from the rule alone: threshold guesses per lock,
        // locks of 300 s doubling to 172,800 s, one second per guess.
        let (mut t, mut n, mut expected) = (0u64, 1u32, 0u64);
        while t < year {
            let guesses = u64::from(p.lockout_threshold).min(year - t);
            expected += guesses;
            t += guesses + p.lock_rule().duration(n);
            n += 1;
        }
        assert_eq!(evaluated, expected);
        assert!(refused > 0);
        let accepted_codes = 2 * u64::from(p.window.totp_window) + 1;
        let chance = evaluated as f64 * accepted_codes as f64 / 1e6;
        assert!(
            chance < 0.01,
            "{evaluated} guesses a year x {accepted_codes} codes: {chance:.4}"
        );
    }

    fn from(v: &Verifier, source: &str, pw: &str) -> Outcome {
        let pw = pw.as_bytes().to_vec();
        let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
        let opts = Options {
            source: Some(source),
            ..Options::default()
        };
        v.verify("alice", opts, Some(&pw), &m).unwrap()
    }

    fn scoped(v: Verifier) -> Verifier {
        v.with_policy(Policy {
            lockout_scope: LockScope::UserSource,
            ..Policy::default()
        })
    }

    /// Issue 21 item 2, scope "user+source": ten wrong codes from one
    /// source lock the user from there only; another source still gets in
    /// (and its success leaves the first source locked); the lock ends as
    /// the rule says, and a success from the locked source clears its row.
    #[test]
    fn scope_user_source_lock_refuses_that_source_only_and_success_clears_it() {
        let (v, store, clock) = setup(None);
        let v = scoped(v);
        for _ in 0..10 {
            assert_eq!(
                from(&v, "nas1/02-00-00-00-00-01", "x"),
                Outcome::Reject(Reason::WrongCode)
            );
        }
        let code = code_at(T0);
        assert_eq!(
            from(&v, "nas1/02-00-00-00-00-01", &code),
            Outcome::Reject(Reason::Locked)
        );
        let u = store.user("alice").unwrap().unwrap();
        assert_eq!(
            (u.failures, u.locked_until),
            (0, None),
            "the user's row is not counted"
        );
        assert!(matches!(
            from(&v, "nas1/02-00-00-00-00-02", &code),
            Outcome::Accept(_)
        ));
        clock.advance(30);
        assert_eq!(
            from(&v, "nas1/02-00-00-00-00-01", &code_at(T0 + 30)),
            Outcome::Reject(Reason::Locked),
            "a success from elsewhere does not unlock this source"
        );
        let l = store
            .source_lock("alice", "nas1/02-00-00-00-00-01")
            .unwrap()
            .unwrap();
        assert_eq!((l.failures, l.locked_until), (10, Some(T0 + 300)));
        clock.set(T0 + 300);
        assert!(matches!(
            from(&v, "nas1/02-00-00-00-00-01", &code_at(T0 + 300)),
            Outcome::Accept(_)
        ));
        assert_eq!(
            store
                .source_lock("alice", "nas1/02-00-00-00-00-01")
                .unwrap(),
            None
        );
    }

    /// Scope "user+source": the escalation runs per (user, source): the
    /// second lock of a source lasts twice the first, while a fresh source
    /// is at its first lock.
    #[test]
    fn scope_user_source_escalates_per_source() {
        let (v, store, clock) = setup(None);
        let v = scoped(v);
        for _ in 0..10 {
            from(&v, "a", "x");
        }
        clock.set(T0 + 300);
        for _ in 0..10 {
            from(&v, "a", "x");
        }
        for _ in 0..10 {
            from(&v, "b", "x");
        }
        let a = store.source_lock("alice", "a").unwrap().unwrap();
        let b = store.source_lock("alice", "b").unwrap().unwrap();
        assert_eq!(a.locked_until, Some(T0 + 300 + 600));
        assert_eq!(b.locked_until, Some(T0 + 300 + 300));
    }

    /// Scope "user" (the default) ignores the source: failures from two
    /// sources add up on the user's row and the lock refuses both.
    #[test]
    fn scope_user_counts_every_source_against_the_user() {
        let (v, store, _) = setup(None);
        for i in 0..10 {
            let src = if i % 2 == 0 { "a" } else { "b" };
            assert_eq!(from(&v, src, "x"), Outcome::Reject(Reason::WrongCode));
        }
        assert_eq!(from(&v, "c", &code_at(T0)), Outcome::Reject(Reason::Locked));
        assert_eq!(store.user("alice").unwrap().unwrap().failures, 10);
        assert!(store.source_locks("alice").unwrap().is_empty());
    }

    /// Scope "user+source" without a source (`radotp otp check`, or a
    /// transport that passes none) counts against the user's row.
    #[test]
    fn scope_user_source_without_source_counts_against_the_user() {
        let (v, store, _) = setup(None);
        let v = scoped(v);
        for _ in 0..10 {
            pap(&v, "alice", "x");
        }
        assert_eq!(
            pap(&v, "alice", &code_at(T0)),
            Outcome::Reject(Reason::Locked)
        );
        assert!(matches!(
            from(&v, "a", &code_at(T0)),
            Outcome::Reject(Reason::Locked)
        ));
        assert!(store.source_locks("alice").unwrap().is_empty());
    }

    /// A sink that keeps everything pending (the commit thread not yet run).
    #[derive(Default)]
    struct Held(std::sync::Mutex<Vec<Failure>>);
    impl FailureSink for Held {
        fn push(&self, f: Failure) {
            self.0.lock().unwrap().push(f);
        }
        fn pending(&self, user: &str, source: Option<&str>) -> u32 {
            let q = self.0.lock().unwrap();
            q.iter()
                .filter(|f| f.user == user && f.source.as_deref() == source)
                .count() as u32
        }
    }

    /// A commit thread that writes every queued failure and settles it the
    /// moment the verifier looks at the pending count: the interleaving in
    /// which a batch lands between the verifier's two reads.
    struct CommitsWhenAsked {
        store: Arc<MemoryStore>,
        queued: std::sync::Mutex<Vec<Failure>>,
    }
    impl FailureSink for CommitsWhenAsked {
        fn push(&self, f: Failure) {
            self.queued.lock().unwrap().push(f);
        }
        fn pending(&self, _: &str, _: Option<&str>) -> u32 {
            for f in self.queued.lock().unwrap().drain(..) {
                self.store.record_failure(&f.user, f.now, f.rule).unwrap();
            }
            0
        }
    }

    /// The pending count is read before the store, so a batch of failures
    /// written between the two reads is seen in the store: the guess after
    /// the tenth finds the user locked. (Read the other way round, that
    /// batch is in neither and an eleventh guess is evaluated: the race
    /// the concurrent burst test in tests/abuse.rs once caught.)
    #[test]
    fn lockout_deferred_commit_between_reads_is_counted() {
        let (v, store, _) = setup(None);
        let sink = Arc::new(CommitsWhenAsked {
            store: store.clone(),
            queued: Default::default(),
        });
        let v = v.with_deferred_commit(sink);
        for i in 0..10 {
            assert_eq!(
                pap(&v, "alice", "000000x"),
                Outcome::Reject(Reason::WrongCode),
                "guess {i}"
            );
        }
        assert_eq!(
            pap(&v, "alice", &code_at(T0)),
            Outcome::Reject(Reason::Locked),
            "the eleventh guess is not evaluated"
        );
        assert_eq!(store.user("alice").unwrap().unwrap().failures, 10);
    }

    /// Deferred mode, scope "user+source": failures still waiting for the
    /// commit thread lock their source, not the others.
    #[test]
    fn scope_user_source_pending_failures_lock_their_source_only() {
        let (v, _, _) = setup(None);
        let sink = Arc::new(Held::default());
        let v = scoped(v.with_deferred_commit(sink.clone()));
        for _ in 0..10 {
            assert_eq!(from(&v, "a", "x"), Outcome::Reject(Reason::WrongCode));
        }
        assert_eq!(sink.pending("alice", Some("a")), 10);
        assert_eq!(from(&v, "a", &code_at(T0)), Outcome::Reject(Reason::Locked));
        match from(&v, "b", &code_at(T0)) {
            Outcome::Accept(a) => {
                let c = a.commit.expect("deferred");
                assert!(c.clear_source.is_none(), "b has no row to clear");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn source_of_is_client_then_calling_station_id_without_control_characters() {
        assert_eq!(source_of("nas1", None), "nas1");
        assert_eq!(source_of("nas1", Some(b"")), "nas1");
        assert_eq!(source_of("nas1", Some(b"02-00-5E")), "nas1/02-00-5E");
        assert_eq!(source_of("nas1", Some(b"a\x1b[2Jb\n")), "nas1/a?[2Jb?");
    }

    #[test]
    fn right_code_accepted_once_then_replay_rejected() {
        let (v, store, _) = setup(None);
        let code = code_at(T0);
        assert!(matches!(pap(&v, "alice", &code), Outcome::Accept(_)));
        assert_eq!(
            pap(&v, "alice", &code),
            Outcome::Reject(Reason::ReplayedCode)
        );
        assert!(store.token("t-1").unwrap().unwrap().last.is_some());
    }

    #[test]
    fn pin_then_code() {
        let (v, _, _) = setup(Some("4711"));
        let code = code_at(T0);
        assert_eq!(pap(&v, "alice", &code), Outcome::Reject(Reason::WrongPin));
        assert_eq!(
            pap(&v, "alice", &format!("9999{code}")),
            Outcome::Reject(Reason::WrongPin)
        );
        match pap(&v, "alice", &format!("4711{code}")) {
            Outcome::Accept(a) => assert_eq!(a.password.expose(), format!("4711{code}").as_bytes()),
            o => panic!("{o:?}"),
        }
    }

    // The first step of the PAP challenge flow is decided on the record the
    // verification reads: the PIN alone asks for the code and counts
    // nothing; PIN + code is verified as usual; a disabled user or a PIN
    // alone without the option is rejected.
    #[test]
    fn pin_only_challenge_on_the_record_verify_reads() {
        let (v, store, _) = setup(Some("4711"));
        let first = |v: &Verifier, pw: &str| {
            let pw = pw.as_bytes().to_vec();
            let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
            let opts = Options {
                pin_only_challenge: true,
                ..Options::default()
            };
            v.verify("alice", opts, Some(&pw), &m).unwrap()
        };
        for _ in 0..12 {
            assert_eq!(first(&v, "4711"), Outcome::PinOnly);
        }
        assert_eq!(store.user("alice").unwrap().unwrap().failures, 0);
        assert_eq!(pap(&v, "alice", "4711"), Outcome::Reject(Reason::WrongCode));
        assert_eq!(first(&v, "4712"), Outcome::Reject(Reason::WrongPin));
        assert!(matches!(
            first(&v, &format!("4711{}", code_at(T0))),
            Outcome::Accept(_)
        ));
        let mut u = store.user("alice").unwrap().unwrap();
        u.enabled = false;
        store.update_user(&u).unwrap();
        assert_eq!(first(&v, "4711"), Outcome::Reject(Reason::UserDisabled));
    }

    #[test]
    fn options_token_searches_that_token_only() {
        let (v, store, _) = setup(None);
        let mut other = store.token("t-1").unwrap().unwrap();
        other.id = "t-2".into();
        other.seed = Secret::new(b"another seed 0123456".to_vec());
        store.insert_token(&other).unwrap();
        let code = code_at(T0);
        let pw = code.as_bytes().to_vec();
        let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
        let only = |id| Options {
            token: Some(id),
            ..Options::default()
        };
        assert_eq!(
            v.verify("alice", only("t-2"), Some(&pw), &m).unwrap(),
            Outcome::Reject(Reason::WrongCode)
        );
        assert_eq!(
            v.verify("alice", only("t-9"), Some(&pw), &m).unwrap(),
            Outcome::Reject(Reason::NoActiveToken)
        );
        match v.verify("alice", only("t-1"), Some(&pw), &m).unwrap() {
            Outcome::Accept(a) => assert_eq!(a.token_id, "t-1"),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn window_and_drift_default_one_step() {
        let (v, _, _) = setup(None);
        assert!(matches!(
            pap(&v, "alice", &code_at(T0 - 30)),
            Outcome::Accept(_)
        ));
        let (v, _, _) = setup(None);
        assert_eq!(
            pap(&v, "alice", &code_at(T0 + 60)),
            Outcome::Reject(Reason::WrongCode)
        );
    }

    #[test]
    fn unknown_user_and_disabled_user() {
        let (v, store, _) = setup(None);
        assert_eq!(
            pap(&v, "bob", "123456"),
            Outcome::Reject(Reason::UnknownUser)
        );
        let mut u = store.user("alice").unwrap().unwrap();
        u.enabled = false;
        store.update_user(&u).unwrap();
        assert_eq!(
            pap(&v, "alice", &code_at(T0)),
            Outcome::Reject(Reason::UserDisabled)
        );
    }

    #[test]
    fn lockout_after_threshold_and_expiry() {
        let (v, _, clock) = setup(None);
        for _ in 0..10 {
            assert_eq!(
                pap(&v, "alice", "000000x"),
                Outcome::Reject(Reason::WrongCode)
            );
        }
        assert_eq!(
            pap(&v, "alice", &code_at(T0)),
            Outcome::Reject(Reason::Locked)
        );
        clock.advance(301);
        let now = T0 + 301;
        assert!(matches!(
            pap(&v, "alice", &code_at(now)),
            Outcome::Accept(_)
        ));
    }

    #[test]
    fn dry_run_commits_nothing() {
        let (v, store, _) = setup(None);
        let code = code_at(T0);
        let pw = code.as_bytes().to_vec();
        let m = |c: &[u8]| crate::secret::ct_eq(c, &pw);
        let opts = Options {
            dry_run: true,
            ..Options::default()
        };
        assert!(matches!(
            v.verify("alice", opts, None, &m).unwrap(),
            Outcome::Accept(_)
        ));
        assert_eq!(store.token("t-1").unwrap().unwrap().last, None);
        assert!(matches!(pap(&v, "alice", &code), Outcome::Accept(_)));
    }

    #[test]
    fn pending_token_is_not_usable_until_activated() {
        let (v, store, _) = setup(None);
        let mut t = store.token("t-1").unwrap().unwrap();
        t.state = TokenState::Pending;
        store.update_token(&t).unwrap();
        assert_eq!(
            pap(&v, "alice", &code_at(T0)),
            Outcome::Reject(Reason::NoActiveToken)
        );
        // `radotp token activate` (admin.rs) is the way out of pending.
    }
}
