//! Authorization end to end: the reply attributes of groups, users and
//! clients as FreeRADIUS's `radclient` decodes them with its own
//! dictionaries (an independent reading of our vendor-specific encoding),
//! and `allow_groups` deciding who may log in through which device, on
//! every method. radclient is installed by `scripts/test-deps.sh`.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use radotp::auth::Method;
use radotp::radius::Code;
use radotp::store::TokenStore;

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} not found: install it with `apt-get install -y {package}` (or run scripts/test-deps.sh)"
    );
}

/// One request through radclient -x; its whole output.
fn radclient(ts: &TestServer, attrs: &str) -> String {
    require("radclient", "freeradius-utils");
    let mut child = Command::new("radclient")
        .args(["-r", "1", "-t", "2", "-x"])
        .arg(ts.addr.to_string())
        .args(["auth", "testing123"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// The attribute lines radclient printed for the reply it received.
fn received(out: &str) -> Vec<String> {
    let Some(at) = out.find("Received Access-") else {
        return Vec::new();
    };
    out[at..]
        .lines()
        .skip(1)
        .map(str::trim)
        .take_while(|l| !l.is_empty() && !l.starts_with("Sent") && !l.starts_with("Packet"))
        .map(str::to_string)
        .collect()
}

const GROUPS: &str = r#"
reply = { "Session-Timeout" = 28800, "Cisco-AVPair" = "client:lo=1" }

[[group]]
name = "netadmins"
reply = { "Service-Type" = "Administrative-User", "Cisco-AVPair" = ["shell:priv-lvl=15", "shell:roles=network-admin"], "Fortinet-Group-Name" = "fw-admins", "Session-Timeout" = 3600 }

[[group]]
name = "vpn"
reply = { "Service-Type" = "Framed-User", "Class" = "vpn-staff", "ASA-Group-Policy" = "GP-STAFF", "Framed-IP-Address" = "10.9.8.7" }
"#;

#[test]
fn radclient_decodes_group_user_and_client_reply_attributes_in_precedence_order() {
    let ts = start(&config_text(GROUPS));
    for (user, groups, own) in [
        ("ops", vec!["netadmins", "vpn"], vec![]),
        (
            "carla",
            vec!["vpn"],
            vec![("Framed-IP-Address", "10.1.1.1")],
        ),
    ] {
        ts.add_user(user, None);
        let mut u = ts.store.user(user).unwrap().unwrap();
        u.groups = groups.iter().map(|g| g.to_string()).collect();
        u.replies = own
            .iter()
            .map(|(a, v)| (a.to_string(), v.to_string()))
            .collect();
        ts.store.update_user(&u).unwrap();
    }
    let ask = |user: &str, attr: &str| {
        let code = code_at(ts.now());
        let out = radclient(
            &ts,
            &format!("User-Name = \"{user}\", {attr} = \"{code}\", Message-Authenticator = 0x00\n"),
        );
        assert!(out.contains("Received Access-Accept"), "{out}");
        ts.clock.advance(30);
        received(&out)
    };
    let ops = ask("ops", "User-Password");
    let has = |lines: &[String], want: &str| lines.iter().any(|l| l == want);
    for want in [
        "Service-Type = Administrative-User",
        "Cisco-AVPair = \"shell:priv-lvl=15\"",
        "Cisco-AVPair = \"shell:roles=network-admin\"",
        "Cisco-AVPair = \"client:lo=1\"",
        "Fortinet-Group-Name = \"fw-admins\"",
        "Session-Timeout = 3600",
        "ASA-Group-Policy = \"GP-STAFF\"",
        "Framed-IP-Address = 10.9.8.7",
    ] {
        assert!(has(&ops, want), "ops lacks `{want}`: {ops:?}");
    }
    // Single-valued: the first group (netadmins) wins over vpn and the client.
    for unwanted in ["Service-Type = Framed-User", "Session-Timeout = 28800"] {
        assert!(!has(&ops, unwanted), "ops has `{unwanted}`: {ops:?}");
    }
    // The multi-valued Cisco-AVPair accumulates group first, client last.
    let avpairs: Vec<&String> = ops
        .iter()
        .filter(|l| l.starts_with("Cisco-AVPair"))
        .collect();
    assert_eq!(avpairs.len(), 3, "{ops:?}");
    assert!(avpairs[2].contains("client:lo=1"), "{ops:?}");

    // radotp probe names them with the same dictionary.
    let code = code_at(ts.now());
    let probe = Command::new(env!("CARGO_BIN_EXE_radotp"))
        .args([
            "--config",
            "/nonexistent-use-builtin.toml",
            "probe",
            "--server",
        ])
        .arg(ts.addr.to_string())
        .args([
            "--secret",
            "testing123",
            "--user",
            "ops",
            "--password",
            &code,
            "--method",
            "mschapv2",
        ])
        .env_remove("RADOTP_CONFIG")
        .output()
        .unwrap();
    ts.clock.advance(30);
    let shown = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    for want in [
        "Service-Type = Administrative-User",
        "Cisco-AVPair = \"shell:priv-lvl=15\"",
        "ASA-Group-Policy = \"GP-STAFF\"",
        "Framed-IP-Address = 10.9.8.7",
        "MS-CHAP2-Success authenticator response verified",
    ] {
        assert!(shown.contains(want), "probe lacks `{want}`:\n{shown}");
    }

    // CHAP too; the user's own Framed-IP-Address wins over the group's.
    let carla = ask("carla", "CHAP-Password");
    for want in [
        "Service-Type = Framed-User",
        "Framed-IP-Address = 10.1.1.1",
        "Session-Timeout = 28800",
        "ASA-Group-Policy = \"GP-STAFF\"",
    ] {
        assert!(has(&carla, want), "carla lacks `{want}`: {carla:?}");
    }
    assert!(!has(&carla, "Framed-IP-Address = 10.9.8.7"), "{carla:?}");
    assert!(!carla.iter().any(|l| l.contains("priv-lvl")), "{carla:?}");
}

fn socket_from(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s
}

#[test]
fn allow_groups_rejects_users_outside_them_on_every_method_without_counting_failures() {
    let cfg = config_text(
        r#"allow_groups = ["netadmins"]

[[client]]
name = "vpn-gw"
address = "127.0.0.2"
secret = "testing123"

[[group]]
name = "netadmins"
"#,
    );
    let ts = start(&cfg);
    ts.add_user("admin", None);
    ts.add_user("staff", None);
    let mut u = ts.store.user("admin").unwrap().unwrap();
    u.groups = vec!["netadmins".into()];
    ts.store.update_user(&u).unwrap();
    let via = |from: &str, method: Method, user: &str| {
        let sock = socket_from(from);
        let req = request(method, user, &code_at(ts.now()));
        let reply = send(&sock, ts.addr, &req).expect("an answer");
        ts.clock.advance(30);
        reply.code
    };
    for m in METHODS {
        // The switch (127.0.0.1) lets only netadmins in.
        assert_eq!(via("127.0.0.1", m, "staff"), Code::AccessReject, "{m:?}");
        assert_eq!(via("127.0.0.1", m, "admin"), Code::AccessAccept, "{m:?}");
        // The VPN gateway (127.0.0.2) has no allow_groups: staff get in.
        assert_eq!(via("127.0.0.2", m, "staff"), Code::AccessAccept, "{m:?}");
    }
    // Counted by reason in the stats, for the log's reason.
    assert_eq!(ts.stats.rejects(radotp::verify::Reason::NotAllowed), 4);
    // A device refusing a user is not a guess: no failure counted, no lock.
    let staff = ts.store.user("staff").unwrap().unwrap();
    assert_eq!(staff.failures, 0);
    assert!(staff.locked_until.is_none());
    // And the code was not spent: the refused request did not commit it.
    let code = code_at(ts.now());
    let sock = socket_from("127.0.0.1");
    let refused = send(&sock, ts.addr, &request(Method::Pap, "staff", &code)).unwrap();
    assert_eq!(refused.code, Code::AccessReject);
    let sock2 = socket_from("127.0.0.2");
    let same_code = send(&sock2, ts.addr, &request(Method::Pap, "staff", &code)).unwrap();
    assert_eq!(same_code.code, Code::AccessAccept);
}

#[test]
fn radclient_decodes_tagged_tunnel_attributes_encrypt_2_and_file_dictionary_attributes() {
    let dict = "/usr/share/freeradius";
    assert!(
        std::path::Path::new(dict).join("dictionary").exists(),
        "{dict}/dictionary not found: install it with `apt-get install -y freeradius-common`"
    );
    // 802.1X dynamic VLAN (RFC 3580 §3.31) with a tunnel password, and a
    // vendor attribute only the FreeRADIUS dictionary files know.
    let cfg = config_text(
        r#"
[[group]]
name = "staff"
reply = { "Tunnel-Type:1" = "VLAN", "Tunnel-Medium-Type:1" = "IEEE-802", "Tunnel-Private-Group-Id:1" = "100", "Tunnel-Password:2" = "tunnel-secret-42", "Brocade-Auth-Role" = "admin", "Foundry-Privilege-Level" = 0 }
"#,
    )
    .replacen(
        "[server]\n",
        &format!("[server]\ndictionary_dirs = [\"{dict}\"]\n"),
        1,
    );
    let ts = start(&cfg);
    ts.add_user("eve", None);
    let mut u = ts.store.user("eve").unwrap().unwrap();
    u.groups = vec!["staff".into()];
    ts.store.update_user(&u).unwrap();
    let code = code_at(ts.now());
    let out = radclient(
        &ts,
        &format!("User-Name = \"eve\", User-Password = \"{code}\", Message-Authenticator = 0x00\n"),
    );
    assert!(out.contains("Received Access-Accept"), "{out}");
    let got = received(&out);
    for want in [
        "Tunnel-Type:1 = VLAN",
        "Tunnel-Medium-Type:1 = IEEE-802",
        "Tunnel-Private-Group-Id:1 = \"100\"",
        "Tunnel-Password:2 = \"tunnel-secret-42\"",
        "Brocade-Auth-Role = \"admin\"",
        "Foundry-Privilege-Level = 0",
    ] {
        assert!(got.iter().any(|l| l == want), "lacks `{want}`: {got:?}");
    }
    // radclient shows the password as it decrypted it with the secret
    // (RFC 2868 §3.5); the unit test shows it is not sent in the clear.
}

#[test]
fn reload_rereads_groups_replies_and_allow_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("radotp.toml");
    let with = |allow: &str, timeout: u32| {
        config_text(&format!(
            "allow_groups = [{allow}]\n\n[[group]]\nname = \"ops\"\nreply = {{ \"Session-Timeout\" = {timeout} }}\n\n[[group]]\nname = \"dev\"\n"
        ))
    };
    std::fs::write(&path, with("\"ops\"", 600)).unwrap();
    let ts = start_with(&with("\"ops\"", 600), Some(path.clone()));
    ts.add_user("olga", None);
    ts.add_user("dave", None);
    for (name, group) in [("olga", "ops"), ("dave", "dev")] {
        let mut u = ts.store.user(name).unwrap().unwrap();
        u.groups = vec![group.into()];
        ts.store.update_user(&u).unwrap();
    }
    let session_timeout = |user: &str| -> (Code, Option<u32>) {
        let sock = socket_from("127.0.0.1");
        let reply = send(
            &sock,
            ts.addr,
            &request(Method::Pap, user, &code_at(ts.now())),
        )
        .unwrap();
        ts.clock.advance(30);
        let t = reply
            .attr(27)
            .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        (reply.code, t)
    };
    assert_eq!(session_timeout("olga"), (Code::AccessAccept, Some(600)));
    assert_eq!(session_timeout("dave").0, Code::AccessReject);
    std::fs::write(&path, with("\"ops\", \"dev\"", 7200)).unwrap();
    ts.reload.send(1).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while session_timeout("olga") != (Code::AccessAccept, Some(7200)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reload never took"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(session_timeout("dave"), (Code::AccessAccept, None));
}
