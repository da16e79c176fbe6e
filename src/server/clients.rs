//! The NAS client table: source address to client, longest prefix wins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::Client;

/// Clients by exact address and by network.
#[derive(Debug, Default)]
pub struct ClientTable {
    exact: HashMap<IpAddr, Arc<Client>>,
    /// Networks, longest prefix first.
    nets: Vec<Arc<Client>>,
    /// Every client by name.
    names: HashMap<String, Arc<Client>>,
}

impl ClientTable {
    /// Builds the table.
    pub fn new(clients: Vec<Client>) -> Self {
        let mut t = ClientTable::default();
        for c in clients {
            let c = Arc::new(c);
            t.names.insert(c.name.clone(), c.clone());
            if c.address.prefix_len() == c.address.max_prefix_len() {
                t.exact.insert(c.address.addr(), c);
            } else {
                t.nets.push(c);
            }
        }
        t.nets
            .sort_by_key(|c| std::cmp::Reverse(c.address.prefix_len()));
        t
    }

    /// The client for a source address (IPv4-mapped IPv6 is treated as IPv4).
    pub fn lookup(&self, ip: IpAddr) -> Option<&Arc<Client>> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.exact
            .get(&ip)
            .or_else(|| self.nets.iter().find(|c| c.address.contains(&ip)))
    }

    /// The client of this name (a conversation that spans rounds keeps
    /// the name, and sees the client as the current config has it).
    pub fn named(&self, name: &str) -> Option<&Arc<Client>> {
        self.names.get(name)
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.exact.len() + self.nets.len()
    }

    /// True without clients.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn c(name: &str, net: &str) -> Client {
        Client {
            name: name.into(),
            address: net.parse().unwrap(),
            secret: Secret::from("s"),
            require_message_authenticator: true,
            rate_limit: 0,
            tls_name: None,
            radsec_secret: Secret::from("radsec"),
            allow_groups: None,
            reply: Vec::new(),
        }
    }

    #[test]
    fn longest_prefix_wins_and_unknown_is_none() {
        let t = ClientTable::new(vec![
            c("wide", "10.0.0.0/8"),
            c("narrow", "10.1.0.0/16"),
            c("host", "10.1.2.3/32"),
            c("v6", "2001:db8::/32"),
        ]);
        let name = |ip: &str| t.lookup(ip.parse().unwrap()).map(|c| c.name.clone());
        assert_eq!(name("10.1.2.3").as_deref(), Some("host"));
        assert_eq!(name("10.1.9.9").as_deref(), Some("narrow"));
        assert_eq!(name("10.9.9.9").as_deref(), Some("wide"));
        assert_eq!(name("::ffff:10.9.9.9").as_deref(), Some("wide"));
        assert_eq!(name("2001:db8::1").as_deref(), Some("v6"));
        assert_eq!(name("192.0.2.1"), None);
    }
}
