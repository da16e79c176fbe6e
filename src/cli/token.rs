//! `radotp token ...`: enroll (with a QR code), activate, list, show,
//! enable, disable, delete, resync and import.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{Ctx, UsageError};
use crate::admin::{AdminReply, AdminRequest, EnrollSpec, ImportToken};
use crate::config::Config;
use crate::otp::{self, Algorithm, Kind};

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Enroll a new token for a user: prints the otpauth:// URI and a QR code.
    /// The token stays pending until its first code is confirmed.
    Enroll {
        /// The owner.
        user: String,
        /// totp or hotp.
        #[arg(long = "type", default_value = "totp")]
        kind: Kind,
        /// sha1, sha256, sha512 or sm3 (default: [otp] algorithm).
        #[arg(long)]
        algorithm: Option<Algorithm>,
        /// 6, 7 or 8 (default: [otp] digits).
        #[arg(long)]
        digits: Option<u32>,
        /// TOTP period in seconds, 10 to 300 (default: [otp] period).
        #[arg(long)]
        period: Option<u32>,
        /// Issuer shown in the app (default: [otp] issuer).
        #[arg(long)]
        issuer: Option<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Also write the QR code to FILE.svg or FILE.png.
        #[arg(long, value_name = "FILE")]
        qr: Option<PathBuf>,
        /// Do not print the QR code on the terminal.
        #[arg(long)]
        no_terminal_qr: bool,
        /// Activate at once (bulk provisioning), without a confirming code.
        #[arg(long)]
        activate: bool,
    },
    /// Confirm a pending token with the code its app shows.
    Activate {
        /// The token id.
        token: String,
        /// The code.
        code: String,
    },
    /// List tokens (of one user with --user).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Show one token.
    Show { token: String },
    /// Enable a token.
    Enable { token: String },
    /// Disable a token.
    Disable { token: String },
    /// Delete a token.
    Delete { token: String },
    /// Resynchronise a drifted token with two consecutive codes.
    Resync {
        token: String,
        code1: String,
        code2: String,
    },
    /// Import tokens: otpauth:// URIs one per line, or CSV lines
    /// `user,secret_base32,type,algorithm,digits,period` (trailing fields
    /// optional). Missing users are created unless --no-create-users.
    Import {
        /// The file (`-` for standard input).
        file: PathBuf,
        /// Fail for users that do not exist instead of creating them.
        #[arg(long)]
        no_create_users: bool,
    },
}

/// Runs a token command.
pub fn run(ctx: &Ctx, cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let req = match cmd {
        TokenCmd::Enroll {
            user,
            kind,
            algorithm,
            digits,
            period,
            issuer,
            description,
            qr,
            no_terminal_qr,
            activate,
        } => {
            let cfg = ctx.config()?;
            let spec = EnrollSpec {
                user,
                kind,
                algorithm: algorithm.unwrap_or(cfg.otp.algorithm),
                digits: digits.unwrap_or(cfg.otp.digits),
                period: period.unwrap_or(cfg.otp.period),
                issuer: issuer.unwrap_or_else(|| cfg.otp.issuer.clone()),
                description,
                activate,
            };
            return enroll(ctx, spec, qr, no_terminal_qr);
        }
        TokenCmd::Activate { token, code } => {
            let reply = ctx.admin(AdminRequest::TokenActivate { id: token, code })?;
            ctx.print_reply(&reply);
            return Ok(match reply {
                AdminReply::Check(c) if c.accepted => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            });
        }
        TokenCmd::List { user } => AdminRequest::TokenList { user },
        TokenCmd::Show { token } => AdminRequest::TokenShow { id: token },
        TokenCmd::Enable { token } => AdminRequest::TokenEnable { id: token },
        TokenCmd::Disable { token } => AdminRequest::TokenDisable { id: token },
        TokenCmd::Delete { token } => AdminRequest::TokenDelete { id: token },
        TokenCmd::Resync {
            token,
            code1,
            code2,
        } => AdminRequest::TokenResync {
            id: token,
            code1,
            code2,
        },
        TokenCmd::Import {
            file,
            no_create_users,
        } => return import(ctx, &file, !no_create_users),
    };
    let reply = ctx.admin(req)?;
    ctx.print_reply(&reply);
    Ok(ExitCode::SUCCESS)
}

fn enroll(
    ctx: &Ctx,
    spec: EnrollSpec,
    qr: Option<PathBuf>,
    no_terminal_qr: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = &qr {
        qr_format(path)?;
    }
    let activate = spec.activate;
    let reply = ctx.admin(AdminRequest::TokenEnroll(spec))?;
    let AdminReply::Enrolled { token, uri } = &reply else {
        anyhow::bail!("unexpected answer to enroll");
    };
    if let Some(path) = &qr {
        write_qr(path, uri)?;
    }
    ctx.print_reply(&reply);
    if ctx.json {
        return Ok(ExitCode::SUCCESS);
    }
    if !no_terminal_qr {
        match crate::qr::terminal(uri) {
            Ok(q) => println!("\n{q}"),
            Err(e) => eprintln!("radotp: no QR code on the terminal: {e}"),
        }
    }
    if let Some(path) = &qr {
        println!("QR code written to {}", path.display());
    }
    if activate {
        println!("token {} is active", token.id);
        return Ok(ExitCode::SUCCESS);
    }
    if std::io::stdin().is_terminal() {
        loop {
            eprint!("Scan the code, then enter the code the app shows to activate (empty to leave it pending): ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let code = line.trim();
            if code.is_empty() {
                break;
            }
            match ctx.admin(AdminRequest::TokenActivate {
                id: token.id.clone(),
                code: code.to_string(),
            }) {
                Ok(AdminReply::Check(c)) if c.accepted => {
                    println!("token {} is active", token.id);
                    return Ok(ExitCode::SUCCESS);
                }
                Ok(_) => eprintln!("that code does not match; try again"),
                Err(e) => eprintln!("radotp: {e:#}"),
            }
        }
    }
    println!(
        "token {} is pending: activate it with `radotp token activate {} CODE`",
        token.id, token.id
    );
    Ok(ExitCode::SUCCESS)
}

enum QrFormat {
    Svg,
    Png,
}

fn qr_format(path: &Path) -> anyhow::Result<QrFormat> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("svg") => Ok(QrFormat::Svg),
        Some("png") => Ok(QrFormat::Png),
        _ => Err(UsageError(format!(
            "--qr {}: the file name must end in .svg or .png",
            path.display()
        ))
        .into()),
    }
}

fn write_qr(path: &Path, uri: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = match qr_format(path)? {
        QrFormat::Svg => crate::qr::svg(uri)?.into_bytes(),
        QrFormat::Png => crate::qr::png(uri, 8)?,
    };
    // The QR code holds the seed: readable by its owner only.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(&bytes)?;
    Ok(())
}

/// One bad line of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub why: String,
}

/// Parses an import file's text: `otpauth://` URIs and CSV lines. Blank
/// lines, `#` comments and a CSV header (`user,...`) are skipped.
pub fn parse_import(text: &str, cfg: &Config) -> (Vec<(usize, ImportToken)>, Vec<BadLine>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = if line.to_ascii_lowercase().starts_with("otpauth://") {
            parse_uri_line(line)
        } else if n == 1 && line.to_ascii_lowercase().starts_with("user,") {
            continue;
        } else {
            parse_csv_line(line, cfg)
        };
        match parsed {
            Ok(t) => ok.push((n, t)),
            Err(why) => bad.push(BadLine { line: n, why }),
        }
    }
    (ok, bad)
}

fn parse_uri_line(line: &str) -> Result<ImportToken, String> {
    let k = otp::uri::KeyUri::parse(line).map_err(|e| e.to_string())?;
    if k.account.is_empty() {
        return Err("the URI names no account (user)".into());
    }
    let mut t = ImportToken::new(
        k.account.clone(),
        otp::uri::encode_base32_secret(k.secret.expose()),
        k.kind,
        k.algorithm,
        k.digits,
        k.period,
    );
    t.counter = (k.kind == Kind::Hotp).then_some(k.counter);
    t.description = k
        .issuer
        .map(|i| format!("imported ({i})"))
        .unwrap_or_default();
    Ok(t)
}

fn parse_csv_line(line: &str, cfg: &Config) -> Result<ImportToken, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 2 || f.len() > 6 {
        return Err(format!(
            "expected user,secret_base32[,type[,algorithm[,digits[,period]]]], found {} field(s)",
            f.len()
        ));
    }
    let user = f[0].to_string();
    crate::admin::check_user_name(&user).map_err(|e| e.message)?;
    let secret_bytes = otp::uri::parse_base32_secret(f[1]).map_err(|e| e.to_string())?;
    if secret_bytes.len() < 10 {
        return Err(format!(
            "secret of {} bytes is too short: at least 80 bits (16 base32 characters) expected",
            secret_bytes.len()
        ));
    }
    let field = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
    let kind = field(2).map_or(Ok(Kind::Totp), str::parse)?;
    let algorithm = field(3).map_or(Ok(cfg.otp.algorithm), str::parse)?;
    let digits = match field(4) {
        None => cfg.otp.digits,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| otp::valid_digits(*d))
            .ok_or_else(|| format!("digits '{d}': expected 6, 7 or 8"))?,
    };
    let period = match field(5) {
        None => cfg.otp.period,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| otp::valid_period(*p))
            .ok_or_else(|| format!("period '{p}': expected 10 to 300 seconds"))?,
    };
    Ok(ImportToken::new(
        user,
        otp::uri::encode_base32_secret(&secret_bytes),
        kind,
        algorithm,
        digits,
        period,
    ))
}

fn import(ctx: &Ctx, file: &Path, create_users: bool) -> anyhow::Result<ExitCode> {
    let cfg = ctx.config()?;
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?
    };
    let (good, bad) = parse_import(&text, &cfg);
    let total = good.len();
    let started = std::time::Instant::now();
    let mut imported = 0;
    let mut users_created = 0;
    let show_progress = total > 10_000 && !ctx.json;
    for chunk in good.chunks(10_000) {
        let tokens = chunk.iter().map(|(_, t)| t.clone()).collect();
        match ctx.admin(AdminRequest::TokenImport {
            tokens,
            create_users,
        }) {
            Ok(AdminReply::Imported {
                tokens,
                users_created: u,
            }) => {
                imported += tokens;
                users_created += u;
            }
            Ok(_) => anyhow::bail!("unexpected answer to import"),
            Err(e) => {
                anyhow::bail!(
                    "{e:#} (in the batch of lines {}..={}; {imported} token(s) imported before it)",
                    chunk.first().map_or(0, |c| c.0),
                    chunk.last().map_or(0, |c| c.0)
                )
            }
        }
        if show_progress {
            eprintln!(
                "imported {imported}/{total} token(s) ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "ok": bad.is_empty(),
                "imported": imported,
                "users_created": users_created,
                "seconds": secs,
                "bad_lines": bad.iter().map(|b| serde_json::json!({"line": b.line, "error": b.why})).collect::<Vec<_>>(),
            })
        );
    } else {
        println!("imported {imported} token(s), created {users_created} user(s) in {secs:.1} s");
        for b in &bad {
            println!("line {}: {}", b.line, b.why);
        }
        if !bad.is_empty() {
            println!("{} line(s) not imported", bad.len());
        }
    }
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::from_toml("", "t").unwrap()
    }

    #[test]
    fn import_parses_csv_uris_and_reports_bad_lines_by_number() {
        let text = "user,secret_base32,type,algorithm,digits,period\n\
                    alice,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,sha1,6,30\n\
                    # a comment\n\
                    \n\
                    bob,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n\
                    carol,not-base32!,totp\n\
                    dave,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,md5\n\
                    erin,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,sha256,9\n\
                    otpauth://totp/ACME:frank?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME&digits=8&period=60&algorithm=SHA256\n\
                    otpauth://totp/ACME:gina?issuer=ACME\n\
                    onlyonefield\n";
        let (ok, bad) = parse_import(text, &cfg());
        let users: Vec<_> = ok.iter().map(|(_, t)| t.user.as_str()).collect();
        assert_eq!(users, ["alice", "bob", "frank"]);
        let frank = &ok[2].1;
        assert_eq!(
            (frank.digits, frank.period, frank.algorithm),
            (8, 60, Algorithm::Sha256)
        );
        let lines: Vec<_> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [6, 7, 8, 10, 11], "{bad:?}");
        assert!(bad[1].why.contains("md5"), "{bad:?}");
        assert!(bad[2].why.contains("digits"), "{bad:?}");
        assert!(bad[3].why.to_lowercase().contains("secret"), "{bad:?}");
    }
}
