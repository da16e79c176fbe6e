//! `radotp token ...`: enroll (with a QR code), activate, list, show,
//! enable, disable, delete, resync, import (otpauth, CSV, PSKC, Yubico,
//! seed lists), assign and export. Wherever a token id is taken, a
//! hardware token's serial is taken too.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{Ctx, UsageError};
use crate::admin::{AdminReply, AdminRequest, EnrollSpec, ImportToken};
use crate::config::Config;
use crate::otp::{self, Algorithm, Kind};
use crate::secret::Secret;

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
        #[arg(long, conflicts_with = "unassigned")]
        user: Option<String>,
        /// Only tokens no user owns yet (`radotp token assign` gives them out).
        #[arg(long)]
        unassigned: bool,
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
    /// `user,secret_base32,type,algorithm,digits,period,groups,pin`
    /// (trailing fields optional; groups separated by `;`; groups and PIN
    /// only for the users it creates, the PIN checked against [pin]); hardware tokens from a PSKC file (RFC 6030), a Yubico
    /// OATH CSV log or a `serial,hex-seed[,type,digits,period]` list.
    /// Missing users are created unless --no-create-users; tokens without
    /// an owner are imported unassigned (`radotp token assign`).
    Import {
        /// The file (`-` for standard input).
        file: PathBuf,
        /// Fail for users that do not exist instead of creating them.
        #[arg(long)]
        no_create_users: bool,
        /// The file's format (default: detected by content; `seeds` is
        /// never guessed unless the file starts with a `serial,` header).
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// PSKC: the pre-shared AES key, hex, in this file.
        #[arg(long, value_name = "FILE")]
        psk_file: Option<PathBuf>,
        /// PSKC: the password (PBKDF2) in this file (one line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Import nothing if any line or key is bad (and everything in one
        /// transaction).
        #[arg(long)]
        all_or_nothing: bool,
    },
    /// Give a token (an unassigned hardware token, by serial or id) to a user.
    Assign {
        /// The token's serial or id.
        token: String,
        /// The user.
        user: String,
    },
    /// Export tokens with their seeds, for a backup or another system:
    /// PSKC encrypted with a password or a pre-shared key, or (with
    /// --plaintext only) clear-text PSKC or otpauth:// URIs.
    Export {
        /// pskc or otpauth.
        #[arg(long, value_enum, default_value = "pskc")]
        format: ExportFormat,
        /// The file to write (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Encrypt with the pre-shared AES-128 key (32 hex digits) in FILE.
        #[arg(long, value_name = "FILE")]
        psk_file: Option<PathBuf>,
        /// Encrypt with a key derived (PBKDF2) from the password in FILE.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// PBKDF2 iterations.
        #[arg(long, default_value_t = 100_000)]
        iterations: u32,
        /// Write the seeds in the clear (otpauth, or unencrypted PSKC).
        #[arg(long)]
        plaintext: bool,
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
}

/// What `token import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// otpauth:// URIs and radotp's CSV, line by line.
    Otpauth,
    /// The same (radotp's CSV lines and URIs mix).
    Csv,
    /// PSKC (RFC 6030) XML.
    Pskc,
    /// Yubico personalization tool OATH-HOTP log.
    Yubico,
    /// `serial,hex-seed[,type,digits,period]` lines.
    Seeds,
}

/// What `token export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Pskc,
    Otpauth,
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
        TokenCmd::List { user, unassigned } => AdminRequest::TokenList { user, unassigned },
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
            format,
            psk_file,
            password_file,
            all_or_nothing,
        } => {
            let opts = ImportOpts {
                create_users: !no_create_users,
                format,
                psk_file,
                password_file,
                all_or_nothing,
            };
            return import(ctx, &file, opts);
        }
        TokenCmd::Assign { token, user } => AdminRequest::TokenAssign { id: token, user },
        TokenCmd::Export {
            format,
            out,
            psk_file,
            password_file,
            iterations,
            plaintext,
            user,
        } => {
            let opts = ExportOpts {
                format,
                psk_file,
                password_file,
                iterations,
                plaintext,
                user,
            };
            return export(ctx, &out, opts);
        }
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
    if f.len() < 2 || f.len() > 8 {
        return Err(format!(
            "expected user,secret_base32[,type[,algorithm[,digits[,period[,groups[,pin]]]]]], found {} field(s)",
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
    let mut t = ImportToken::new(
        user,
        otp::uri::encode_base32_secret(&secret_bytes),
        kind,
        algorithm,
        digits,
        period,
    );
    // Groups, most specific first: `netadmins;vpn`.
    t.groups = field(6)
        .map(|g| {
            g.split(';')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // The PIN of the user the import creates, checked here so that a bad
    // one is reported with its line (the service checks it again).
    if let Some(pin) = field(7) {
        cfg.check_pin(pin)?;
        t.pin = Some(pin.to_string());
    }
    Ok(t)
}

/// `token import`'s options.
struct ImportOpts {
    create_users: bool,
    format: Option<ImportFormat>,
    psk_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    all_or_nothing: bool,
}

fn read_text(file: &Path) -> anyhow::Result<String> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?
    };
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text))
}

/// A hex key from a file (whitespace ignored).
fn read_psk(path: &Path) -> anyhow::Result<Secret> {
    let text = Secret::new(
        std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?,
    );
    let s = std::str::from_utf8(text.expose()).unwrap_or("");
    let key = crate::provision::hex_seed(s)
        .map_err(|_| UsageError(format!("{}: expected the key in hex", path.display())))?;
    if ![16, 24, 32].contains(&key.len()) {
        return Err(UsageError(format!(
            "{}: an AES key is 16, 24 or 32 bytes (32, 48 or 64 hex digits), not {}",
            path.display(),
            key.len()
        ))
        .into());
    }
    Ok(Secret::new(key))
}

/// A password from a file: its first line.
fn read_password(path: &Path) -> anyhow::Result<Secret> {
    let text = Secret::new(
        std::fs::read(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?,
    );
    let line = text
        .expose()
        .split(|b| *b == b'\n')
        .next()
        .unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(UsageError(format!("{}: the password is empty", path.display())).into());
    }
    Ok(Secret::new(line.to_vec()))
}

/// The format of an import file by its content.
pub fn detect_format(text: &str) -> ImportFormat {
    let t = text.trim_start();
    if t.starts_with('<') {
        ImportFormat::Pskc
    } else if crate::provision::seeds::looks_like_yubico(text) {
        ImportFormat::Yubico
    } else if t.to_ascii_lowercase().starts_with("serial,") {
        ImportFormat::Seeds
    } else {
        ImportFormat::Otpauth
    }
}

/// Parses an import file in `format` (for `Pskc`, with the keys).
pub fn parse_file(
    text: &str,
    format: ImportFormat,
    keys: &crate::provision::pskc::Keys,
    cfg: &Config,
) -> anyhow::Result<crate::provision::Parsed> {
    use crate::provision::{pskc, seeds, BadEntry, Parsed};
    Ok(match format {
        ImportFormat::Pskc => {
            pskc::parse(text, keys).map_err(|e| anyhow::anyhow!("{e}; nothing imported"))?
        }
        ImportFormat::Yubico => seeds::parse_yubico(text),
        ImportFormat::Seeds => seeds::parse_seed_list(text),
        ImportFormat::Otpauth | ImportFormat::Csv => {
            let (good, bad) = parse_import(text, cfg);
            Parsed {
                tokens: good
                    .into_iter()
                    .map(|(n, t)| (format!("line {n}"), t))
                    .collect(),
                bad: bad
                    .into_iter()
                    .map(|b| BadEntry {
                        at: format!("line {}", b.line),
                        why: b.why,
                    })
                    .collect(),
            }
        }
    })
}

/// Tokens per import request (one store transaction each).
const IMPORT_BATCH: usize = 5_000;

fn import(ctx: &Ctx, file: &Path, o: ImportOpts) -> anyhow::Result<ExitCode> {
    // The time and rate reported cover reading, decrypting and storing.
    let started = std::time::Instant::now();
    let cfg = ctx.config()?;
    let text = read_text(file)?;
    let format = o.format.unwrap_or_else(|| detect_format(&text));
    let keys = crate::provision::pskc::Keys {
        psk: o.psk_file.as_deref().map(read_psk).transpose()?,
        password: o.password_file.as_deref().map(read_password).transpose()?,
    };
    let parsed = parse_file(&text, format, &keys, &cfg)?;
    drop(text);
    let (good, bad) = (parsed.tokens, parsed.bad);
    let total = good.len();
    let mut imported = 0;
    let mut users_created = 0;
    let refused = o.all_or_nothing && !bad.is_empty();
    let batch = if o.all_or_nothing {
        total.max(1)
    } else {
        IMPORT_BATCH
    };
    let bar = (!ctx.json && !refused && total > 0 && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {human_pos}/{human_len} tokens, {rate}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", s.per_sec());
                },
            ),
        );
        b
    });
    if !refused {
        for chunk in good.chunks(batch) {
            let tokens = chunk.iter().map(|(_, t)| t.clone()).collect();
            match ctx.admin(AdminRequest::TokenImport {
                tokens,
                create_users: o.create_users,
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
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    anyhow::bail!(
                        "{e:#} (in the batch of {} to {}; {imported} token(s) imported before it)",
                        chunk.first().map_or("", |c| c.0.as_str()),
                        chunk.last().map_or("", |c| c.0.as_str())
                    )
                }
            }
            if let Some(b) = &bar {
                b.set_position(imported as u64);
            }
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if ctx.json {
        let line_no = |at: &str| {
            at.strip_prefix("line ")
                .and_then(|n| n.parse::<usize>().ok())
        };
        println!(
            "{}",
            serde_json::json!({
                "ok": bad.is_empty(),
                "format": format!("{format:?}").to_lowercase(),
                "imported": imported,
                "users_created": users_created,
                "unassigned": if refused { 0 } else { good.iter().filter(|(_, t)| t.user.is_empty()).count() },
                "seconds": secs,
                "rate_per_second": if secs > 0.0 { imported as f64 / secs } else { 0.0 },
                "all_or_nothing_refused": refused,
                "bad_lines": bad.iter().filter_map(|b| line_no(&b.at).map(|n| serde_json::json!({"line": n, "error": b.why}))).collect::<Vec<_>>(),
                "bad_keys": bad.iter().filter(|b| line_no(&b.at).is_none()).map(|b| serde_json::json!({"key": b.at.trim_start_matches("key "), "error": b.why})).collect::<Vec<_>>(),
            })
        );
    } else {
        for b in &bad {
            println!("{}: {}", b.at, b.why);
        }
        if refused {
            println!(
                "{} bad entr{}: nothing imported (--all-or-nothing)",
                bad.len(),
                if bad.len() == 1 { "y" } else { "ies" }
            );
        } else {
            println!(
                "imported {imported} token(s), created {users_created} user(s) in {secs:.1} s"
            );
            if !bad.is_empty() {
                println!("{} line(s) or key(s) not imported", bad.len());
            }
        }
    }
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `token export`'s options.
struct ExportOpts {
    format: ExportFormat,
    psk_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    iterations: u32,
    plaintext: bool,
    user: Option<String>,
}

fn export(ctx: &Ctx, out: &Path, o: ExportOpts) -> anyhow::Result<ExitCode> {
    use crate::provision::pskc::{self, Protection};
    let protection = match (o.format, &o.psk_file, &o.password_file, o.plaintext) {
        (_, Some(_), Some(_), _) => {
            return Err(UsageError("give --psk-file or --password-file, not both".into()).into())
        }
        (ExportFormat::Otpauth, None, None, true) => Protection::Plain,
        (ExportFormat::Otpauth, _, _, _) => {
            return Err(UsageError(
                "otpauth URIs hold the seeds in the clear: add --plaintext to write them (or export encrypted PSKC)".into(),
            )
            .into())
        }
        (ExportFormat::Pskc, Some(p), None, _) => {
            let k = read_psk(p)?;
            if k.len() != 16 {
                return Err(UsageError(format!(
                    "{}: the export key is AES-128, 32 hex digits",
                    p.display()
                ))
                .into());
            }
            Protection::Psk(k)
        }
        (ExportFormat::Pskc, None, Some(p), _) => {
            if !(1_000..=10_000_000).contains(&o.iterations) {
                return Err(
                    UsageError("--iterations: expected 1000 to 10000000".into()).into(),
                );
            }
            Protection::Password {
                password: read_password(p)?,
                iterations: o.iterations,
            }
        }
        (ExportFormat::Pskc, None, None, true) => Protection::Plain,
        (ExportFormat::Pskc, None, None, false) => {
            return Err(UsageError(
                "refusing to write the seeds in the clear: give --password-file or --psk-file to encrypt the export, or --plaintext".into(),
            )
            .into())
        }
    };
    let reply = ctx.admin(AdminRequest::TokenExport { user: o.user })?;
    let AdminReply::Exported(tokens) = reply else {
        anyhow::bail!("unexpected answer to export");
    };
    let text = Secret::new(
        match o.format {
            ExportFormat::Pskc => {
                pskc::write(&tokens, &protection).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            ExportFormat::Otpauth => otpauth_lines(&tokens)?,
        }
        .into_bytes(),
    );
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
    f.write_all(text.expose())?;
    f.sync_all()?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "exported": tokens.len(), "file": out.display().to_string(),
                "encrypted": !matches!(protection, Protection::Plain)})
        );
    } else {
        println!("exported {} token(s) to {}", tokens.len(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One `otpauth://` URI per token (unassigned ones named by serial or id).
fn otpauth_lines(tokens: &[ImportToken]) -> anyhow::Result<String> {
    let mut s = String::new();
    for t in tokens {
        let seed = otp::uri::parse_base32_secret(&t.secret).map_err(|e| anyhow::anyhow!("{e}"))?;
        let id = t.id.clone().unwrap_or_default();
        let account = if t.user.is_empty() {
            t.serial.clone().unwrap_or(id)
        } else {
            t.user.clone()
        };
        let mut k = otp::uri::KeyUri::new(t.kind, &account, Some("radotp"), Secret::new(seed));
        k.algorithm = t.algorithm;
        k.digits = t.digits;
        k.period = t.period;
        k.counter = t.counter.unwrap_or(0);
        s.push_str(&k.to_uri());
        s.push('\n');
    }
    Ok(s)
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

    #[test]
    fn import_format_is_detected_by_content() {
        assert_eq!(
            detect_format("\n  <?xml version=\"1.0\"?><KeyContainer/>"),
            ImportFormat::Pskc
        );
        assert_eq!(
            detect_format(
                "1234567,,,3132333435363738393031323334353637383930,,2024-01-01T10:00:00,\n"
            ),
            ImportFormat::Yubico
        );
        assert_eq!(detect_format("serial,seed\nA,3132\n"), ImportFormat::Seeds);
        assert_eq!(
            detect_format("alice,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"),
            ImportFormat::Otpauth
        );
        assert_eq!(
            detect_format("otpauth://totp/a?secret=GEZDGNBV\n"),
            ImportFormat::Otpauth
        );
    }
}
