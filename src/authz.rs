//! Authorization: the reply attributes of an Access-Accept.
//!
//! Three sources feed an Accept, from the most to the least specific: the
//! user's own attributes (`radotp user set --reply`), then the user's
//! groups in the user's order (`[[group]] reply`), then the client's
//! (`[[client]] reply`). A single-valued attribute comes from the first
//! source that sets it; a multi-valued one (Cisco-AVPair, Class, ...)
//! accumulates in that order (see [`dictionary::merge`]). Which users may
//! log in through a client (`allow_groups`) is the verifier's check
//! ([`crate::verify::Options::allow_groups`]), made before any token is
//! searched.
//!
//! The config's part is compiled once per load ([`Authz::new`]) and
//! checked against [`REPLY_BUDGET`]; a user's attributes are kept as text
//! in the store and compiled per Accept (a few microseconds), so that a
//! dictionary change never strands a stored user. What does not compile
//! or does not fit is left out with a warning, never a lost Accept.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Client, Config, REPLY_BUDGET};
use crate::radius::attribute::Attribute;
use crate::radius::dictionary::{self, ConfigValue, Dictionary, Reply};

/// The groups' compiled reply attributes.
#[derive(Debug, Default)]
pub struct Authz {
    groups: HashMap<String, Vec<Reply>>,
    dictionary: Arc<Dictionary>,
}

impl Authz {
    /// The groups of `config`.
    pub fn new(config: &Config) -> Authz {
        Authz {
            groups: config.group_replies().into_iter().collect(),
            dictionary: config.dictionary.clone(),
        }
    }

    /// Is `name` a configured group?
    pub fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    /// The reply attributes of an Accept for a user with `groups` and its
    /// own `replies`, sent to `client` in answer to a request with
    /// `authenticator` (which, with the client's secret, hides encrypted
    /// attributes such as Tunnel-Password).
    pub fn reply_attributes(
        &self,
        client: &Client,
        authenticator: &[u8; 16],
        user: &str,
        groups: &[String],
        replies: &[(String, String)],
    ) -> Vec<Attribute> {
        if groups.is_empty() && replies.is_empty() && client.reply.is_empty() {
            return Vec::new();
        }
        let own: Vec<Reply> = replies
            .iter()
            .filter_map(
                |(a, v)| match Reply::parse(&self.dictionary, a, &ConfigValue::Text(v)) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        warn_once(user, &format!("stored reply attribute left out: {e}"));
                        None
                    }
                },
            )
            .collect();
        let mut sources: Vec<&[Reply]> = Vec::with_capacity(groups.len() + 2);
        sources.push(&own);
        sources.extend(
            groups
                .iter()
                .filter_map(|g| self.groups.get(g))
                .map(Vec::as_slice),
        );
        sources.push(&client.reply);
        let mut room = REPLY_BUDGET;
        let mut out = Vec::new();
        for r in dictionary::merge(sources) {
            let n = r.wire_len();
            if n > room {
                warn_once(
                    user,
                    &format!(
                        "reply attributes beyond {REPLY_BUDGET} bytes left out, starting with {}",
                        r.def.name
                    ),
                );
                break;
            }
            room -= n;
            out.push(r.attribute(client.secret.expose(), authenticator));
        }
        out
    }
}

/// Logs a reply-attribute problem of a user at most once a minute overall.
fn warn_once(user: &str, what: &str) {
    use std::sync::Mutex;
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last.is_none_or(|t| now.duration_since(t).as_secs() >= 60) {
        *last = Some(now);
        let user = crate::audit::LogName(user.as_bytes());
        tracing::warn!(user = %user, "{what}; further ones are not logged for a minute");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "{extra}\n[[client]]\nname = \"sw\"\naddress = \"127.0.0.1/32\"\nsecret = \"s\"\nreply = {{ \"Service-Type\" = \"Login-User\", \"Cisco-AVPair\" = \"client=1\", \"Session-Timeout\" = 60 }}\n"
        );
        Config::from_toml(&text, "t.toml").unwrap()
    }

    fn client(c: &Config) -> Client {
        let mut v = c.clients().unwrap();
        v.remove(0)
    }

    fn names(attrs: &[Attribute]) -> Vec<(u8, Vec<u8>)> {
        attrs.iter().map(|a| (a.typ, a.value.clone())).collect()
    }

    #[test]
    fn precedence_user_then_groups_in_order_then_client_multi_accumulates() {
        let c = config(
            "[[group]]\nname = \"admins\"\nreply = { \"Service-Type\" = \"Administrative-User\", \"Cisco-AVPair\" = \"shell:priv-lvl=15\" }\n\
             [[group]]\nname = \"vpn\"\nreply = { \"Service-Type\" = \"Framed-User\", \"Session-Timeout\" = 3600, \"Cisco-AVPair\" = \"vpn=1\" }\n",
        );
        let authz = Authz::new(&c);
        let cl = client(&c);
        let groups = vec!["vpn".to_string(), "admins".to_string(), "ghost".to_string()];
        let own = vec![("Session-Timeout".to_string(), "42".to_string())];
        let got = authz.reply_attributes(&cl, &[0; 16], "alice", &groups, &own);
        let st = |v: u32| (6u8, v.to_be_bytes().to_vec());
        let to = |v: u32| (27u8, v.to_be_bytes().to_vec());
        let got = names(&got);
        // Session-Timeout: the user's; Service-Type: the first group's (vpn).
        assert!(got.contains(&to(42)) && !got.contains(&to(3600)) && !got.contains(&to(60)));
        assert!(got.contains(&st(2)) && !got.contains(&st(6)) && !got.contains(&st(1)));
        // Cisco-AVPair accumulates: vpn's, admins', then the client's.
        let avpairs: Vec<Vec<u8>> = got
            .iter()
            .filter(|(t, _)| *t == 26)
            .map(|(_, v)| v[6..].to_vec())
            .collect();
        assert_eq!(
            avpairs,
            vec![
                b"vpn=1".to_vec(),
                b"shell:priv-lvl=15".to_vec(),
                b"client=1".to_vec()
            ]
        );
    }

    #[test]
    fn a_stored_attribute_that_no_longer_compiles_is_left_out() {
        let c = config("");
        let authz = Authz::new(&c);
        let cl = client(&c);
        let own = vec![
            ("No-Such-Attribute".to_string(), "x".to_string()),
            ("Filter-Id".to_string(), "staff".to_string()),
        ];
        let got = names(&authz.reply_attributes(&cl, &[0; 16], "bob", &[], &own));
        assert!(got.contains(&(11, b"staff".to_vec())));
        assert_eq!(got.len(), 4, "Filter-Id and the client's three: {got:?}");
    }

    #[test]
    fn replies_beyond_the_budget_are_cut_not_overflowing_the_packet() {
        let c = config("");
        let authz = Authz::new(&c);
        let cl = Client {
            reply: Vec::new(),
            ..client(&c)
        };
        let long = "x".repeat(240);
        let own: Vec<(String, String)> = (0..40)
            .map(|_| ("Reply-Message".to_string(), long.clone()))
            .collect();
        let got = authz.reply_attributes(&cl, &[0; 16], "carol", &[], &own);
        let bytes: usize = got.iter().map(|a| a.value.len() + 2).sum();
        assert!(bytes <= REPLY_BUDGET, "{bytes}");
        assert_eq!(got.len(), REPLY_BUDGET / 242);
    }
}
