//! SFTP drops (blocking libssh2, run by the scheduler on a blocking thread): pinned host keys,
//! stable-file detection, download -> spool -> commit -> only then delete or move the remote
//! file, and uploads of acknowledgements to the partner's outbound folder.

use crate::config::{After, Channel, Config, SftpChannel, Stable};
use crate::intake::{commit, is_partial, IntakeError, IntakeReport};
use crate::store::{Store, StoreError};
use crate::util::{base64_nopad, Utc};
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, KnownHostFileKind, Session, Sftp};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SftpError {
    #[error("{host}:{port}: cannot connect: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("{host}:{port}: host key {key_type} {fingerprint} is not in {known_hosts}; refusing to connect")]
    UnknownHostKey {
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("{host}:{port}: HOST KEY CHANGED: the server offers {key_type} {fingerprint}, which does not match {known_hosts}; refusing to connect")]
    ChangedHostKey {
        host: String,
        port: u16,
        key_type: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("{host}:{port}: authentication as {user} failed: {reason}")]
    Auth {
        host: String,
        port: u16,
        user: String,
        reason: String,
    },
    #[error("{host}:{port}: {what}: {source}")]
    Ssh {
        host: String,
        port: u16,
        what: String,
        source: ssh2::Error,
    },
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An open SFTP session.
pub struct Remote {
    _session: Session,
    sftp: Sftp,
    host: String,
    port: u16,
}

fn key_type(t: ssh2::HostKeyType) -> &'static str {
    match t {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    }
}

/// Connects, checks the host key against `known_hosts` (there is no way to skip this), and
/// authenticates with the key file or the password from the named environment variable.
pub fn connect(s: &SftpChannel) -> Result<Remote, SftpError> {
    let (host, port) = (s.host.clone(), s.port);
    let ssh = |what: &str| {
        let (host, port, what) = (host.clone(), port, what.to_string());
        move |source| SftpError::Ssh {
            host,
            port,
            what,
            source,
        }
    };
    let timeout = Duration::from_secs(s.timeout_seconds.max(1));
    let addr = (s.host.as_str(), s.port)
        .to_socket_addrs()
        .and_then(|mut a| a.next().ok_or_else(|| std::io::Error::other("no address")))
        .map_err(|source| SftpError::Connect {
            host: host.clone(),
            port,
            source,
        })?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|source| SftpError::Connect {
        host: host.clone(),
        port,
        source,
    })?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let mut session = Session::new().map_err(ssh("session"))?;
    session.set_tcp_stream(tcp);
    session.set_timeout(timeout.as_millis() as u32);
    session.handshake().map_err(ssh("handshake"))?;
    let (key, kind) = session.host_key().ok_or_else(|| SftpError::Ssh {
        host: host.clone(),
        port,
        what: "host key".into(),
        source: ssh2::Error::unknown(),
    })?;
    let fingerprint = format!("SHA256:{}", base64_nopad(&Sha256::digest(key)));
    let mut known = session.known_hosts().map_err(ssh("known hosts"))?;
    known
        .read_file(&s.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(ssh(&format!("reading {}", s.known_hosts.display())))?;
    let known_hosts = s.known_hosts.display().to_string();
    let key_type = key_type(kind).to_string();
    match known.check_port(&s.host, s.port, key) {
        CheckResult::Match => {}
        CheckResult::Mismatch => {
            return Err(SftpError::ChangedHostKey {
                host,
                port,
                key_type,
                fingerprint,
                known_hosts,
            })
        }
        CheckResult::NotFound | CheckResult::Failure => {
            return Err(SftpError::UnknownHostKey {
                host,
                port,
                key_type,
                fingerprint,
                known_hosts,
            })
        }
    }
    let auth = match (&s.private_key, &s.password_env) {
        (Some(k), _) => session.userauth_pubkey_file(&s.username, None, k, None),
        (None, Some(var)) => match std::env::var(var) {
            Ok(pw) => session.userauth_password(&s.username, &pw),
            Err(_) => {
                return Err(SftpError::Auth {
                    host,
                    port,
                    user: s.username.clone(),
                    reason: format!("environment variable {var} is not set"),
                })
            }
        },
        (None, None) => session.userauth_agent(&s.username),
    };
    if let Err(e) = auth {
        return Err(SftpError::Auth {
            host,
            port,
            user: s.username.clone(),
            reason: e.message().to_string(),
        });
    }
    let sftp = session.sftp().map_err(ssh("starting sftp"))?;
    Ok(Remote {
        _session: session,
        sftp,
        host,
        port,
    })
}

impl Remote {
    fn err(&self, what: String) -> impl FnOnce(ssh2::Error) -> SftpError {
        let (host, port) = (self.host.clone(), self.port);
        move |source| SftpError::Ssh {
            host,
            port,
            what,
            source,
        }
    }

    /// Regular files in `dir`: (name, size, mtime).
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64, u64)>, SftpError> {
        let entries = self
            .sftp
            .readdir(Path::new(dir))
            .map_err(self.err(format!("listing {dir}")))?;
        let mut out: Vec<_> = entries
            .into_iter()
            .filter(|(_, st)| st.is_file())
            .filter_map(|(p, st)| {
                let name = p.file_name()?.to_string_lossy().into_owned();
                Some((name, st.size.unwrap_or(0), st.mtime.unwrap_or(0)))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    pub fn read(&self, path: &str) -> Result<Vec<u8>, SftpError> {
        let mut f = self
            .sftp
            .open(Path::new(path))
            .map_err(self.err(format!("opening {path}")))?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(|e| {
            self.err(format!("reading {path}"))(ssh2::Error::from_errno(ssh2::ErrorCode::Session(
                e.raw_os_error().unwrap_or(-1),
            )))
        })?;
        Ok(data)
    }

    /// (size, mtime) of a remote file, or `None` when it is not there.
    pub fn stamp(&self, path: &str) -> Result<Option<(u64, u64)>, SftpError> {
        match self.sftp.stat(Path::new(path)) {
            Ok(st) => Ok(Some((st.size.unwrap_or(0), st.mtime.unwrap_or(0)))),
            Err(e) if e.code() == ssh2::ErrorCode::SFTP(2) => Ok(None),
            Err(e) => Err(self.err(format!("reading the attributes of {path}"))(e)),
        }
    }

    pub fn remove(&self, path: &str) -> Result<(), SftpError> {
        self.sftp
            .unlink(Path::new(path))
            .map_err(self.err(format!("deleting {path}")))
    }

    /// Renames, replacing the target (SFTP v3 rename does not overwrite).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), SftpError> {
        let _ = self.sftp.unlink(Path::new(to));
        self.sftp
            .rename(Path::new(from), Path::new(to), None)
            .map_err(self.err(format!("renaming {from} to {to}")))
    }

    /// Writes `name.part`, then renames it to `name`: readers never see half a file.
    pub fn upload(&self, dir: &str, name: &str, data: &[u8]) -> Result<(), SftpError> {
        let part = self.write_part(dir, name, data)?;
        self.rename(&part, &join(dir, name))
    }

    /// Writes `name.part` in `dir` (not yet renamed) and returns its path.
    pub fn write_part(&self, dir: &str, name: &str, data: &[u8]) -> Result<String, SftpError> {
        let part = join(dir, &format!("{name}.part"));
        let mut f = self
            .sftp
            .create(Path::new(&part))
            .map_err(self.err(format!("creating {part}")))?;
        f.write_all(data).and_then(|_| f.flush()).map_err(|e| {
            self.err(format!("writing {part}"))(ssh2::Error::from_errno(ssh2::ErrorCode::Session(
                e.raw_os_error().unwrap_or(-1),
            )))
        })?;
        drop(f);
        Ok(part)
    }
}

/// `dir/name` on the remote side.
pub fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// Listing memory per channel: what each remote file looked like at the last poll.
#[derive(Default)]
pub struct Listings(HashMap<String, HashMap<String, (u64, u64)>>);

/// Takes every stable file from the channel's remote folder.
pub fn poll(
    cfg: &Config,
    store: &mut Store,
    channel: &Channel,
    seen: &mut Listings,
) -> Result<IntakeReport, SftpError> {
    let Some(s) = channel.sftp() else {
        return Ok(IntakeReport::default());
    };
    let remote = connect(s)?;
    let mut report = IntakeReport::default();
    let before = seen.0.remove(&channel.name).unwrap_or_default();
    let mut now = HashMap::new();
    for (name, size, mtime) in remote.list(&s.remote_dir)? {
        if is_partial(&name) || name.ends_with(".part") {
            continue;
        }
        now.insert(name.clone(), (size, mtime));
        let stable = match s.stable {
            Stable::Rename => true,
            Stable::Listing => before.get(&name) == Some(&(size, mtime)),
        };
        if !stable {
            report.waiting += 1;
            continue;
        }
        let path = join(&s.remote_dir, &name);
        let key = format!("sftp:{}:{}:{}:{}", channel.name, name, size, mtime);
        if store.file_by_source(&key)?.is_none() {
            let data = remote.read(&path)?;
            if data.len() as u64 != size {
                report.waiting += 1;
                continue; // Still growing: the next poll decides.
            }
            report.add(commit(cfg, store, channel, &name, &key, &data)?);
        } else {
            tracing::info!(channel = %channel.name, file = %name, "already received; finishing its removal");
        }
        if finish(&remote, s, &name, (size, mtime))? {
            now.remove(&name);
        } else {
            tracing::info!(channel = %channel.name, file = %name, "changed since it was taken: left for a later poll as a new drop");
        }
    }
    seen.0.insert(channel.name.clone(), now);
    Ok(report)
}

/// Deletes or moves a remote file whose content is committed, unless the name now holds
/// something else (size or modification time changed since the listing: the partner wrote the
/// same name again); returns whether the file is finished with. SFTP gives times in whole seconds, so a rewrite of
/// the same size within the same second is not told apart.
pub fn finish(
    remote: &Remote,
    s: &SftpChannel,
    name: &str,
    listed: (u64, u64),
) -> Result<bool, SftpError> {
    let path = join(&s.remote_dir, name);
    match remote.stamp(&path)? {
        None => return Ok(true), // already gone: nothing left to finish
        Some(now) if now != listed => return Ok(false),
        Some(_) => {}
    }
    match &s.after {
        After::Delete => remote.remove(&path)?,
        After::Move(dir) => remote.rename(&path, &join(dir, name))?,
    }
    Ok(true)
}

/// Uploads what is due for this channel's outbound folder; failures are retried with backoff.
pub fn deliver(store: &mut Store, channel: &Channel) -> Result<usize, SftpError> {
    let Some(s) = channel.sftp() else {
        return Ok(0);
    };
    let Some(dir) = &s.outbound_dir else {
        return Ok(0);
    };
    let due = store.due_uploads(&channel.name, Utc::now())?;
    if due.is_empty() {
        return Ok(0);
    }
    let remote = match connect(s) {
        Ok(r) => r,
        Err(e) => {
            for u in &due {
                store.upload_failed(u.id, &e.to_string(), backoff(u.attempts))?;
            }
            return Err(e);
        }
    };
    let mut sent = 0;
    for u in due {
        match remote.upload(dir, &u.remote_name, &u.content) {
            Ok(()) => {
                store.upload_done(u.id)?;
                tracing::info!(channel = %channel.name, file = %u.remote_name, "uploaded");
                sent += 1;
            }
            Err(e) => {
                store.upload_failed(u.id, &e.to_string(), backoff(u.attempts))?;
                return Err(e);
            }
        }
    }
    Ok(sent)
}

/// Exponential backoff from 2 s, capped at 10 minutes.
fn backoff(attempts: i64) -> Utc {
    let secs = 2i64.saturating_mul(1 << attempts.clamp(0, 9)).min(600);
    Utc {
        epoch: Utc::now().epoch + secs,
    }
}
