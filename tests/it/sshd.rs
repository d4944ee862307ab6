//! A real OpenSSH server on 127.0.0.1 for the SFTP tests: its own host key, a client key, a
//! known_hosts file, and a folder it serves. Started and stopped by the tests themselves.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "edigate-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// Starts a server. Panics with a clear message when OpenSSH's server is not installed
    /// (`.ci/run` installs it).
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: apt-get install openssh-server (see .ci/run)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        keygen(&dir.path().join("host_ed25519"));
        keygen(&dir.path().join("client_ed25519"));
        fs::copy(
            dir.path().join("client_ed25519.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let host_pub = fs::read_to_string(dir.path().join("host_ed25519.pub")).unwrap();
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        fs::write(
            dir.path().join("known_hosts"),
            format!("[127.0.0.1]:{port} {} {}\n", key[0], key[1]),
        )
        .unwrap();
        for d in ["root/inbox", "root/outbox", "root/archive"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let d = dir.path().display();
        fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
                 LogLevel VERBOSE\nSubsystem sftp internal-sftp\nForceCommand internal-sftp\n"
            ),
        )
        .unwrap();
        let _ = fs::create_dir_all("/run/sshd");
        let mut s = Sshd {
            dir,
            port,
            user,
            child: None,
        };
        s.resume();
        s
    }

    /// Starts (again) the server with the same port and keys.
    pub fn resume(&mut self) {
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .arg("-E")
            .arg(self.dir.path().join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "sshd did not listen: {}",
                fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A served folder, by its absolute path (what the channel's `remote_dir` names).
    pub fn remote(&self, rel: &str) -> PathBuf {
        self.dir.path().join("root").join(rel)
    }

    /// An `[[channels]]` entry for this server.
    pub fn channel(&self, extra: &str) -> String {
        let d = self.dir.path().display();
        format!(
            "[[channels]]\nname = \"acme-sftp\"\ntype = \"sftp\"\npartner = \"ACME\"\nhost = \"127.0.0.1\"\nport = {}\n\
             username = \"{}\"\nprivate_key = \"{d}/client_ed25519\"\nknown_hosts = \"{d}/known_hosts\"\n\
             remote_dir = \"{d}/root/inbox\"\noutbound_dir = \"{d}/root/outbox\"\nschedule = \"*/1 * * * * *\"\ntimeout_seconds = 5\n{extra}\n",
            self.port, self.user
        )
    }

    pub fn files(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.remote(rel))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
