//! A PostgreSQL server of its own for one test: a fresh cluster in a temporary directory, listening on
//! 127.0.0.1 at a free port, stopped by its PID when the value drops (pass or fail).

use std::{
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Postgres {
    /// `None` while stopped.
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    /// Where `postgres` is, and whom it runs as: found once, for every (re)start.
    bin: Option<PathBuf>,
    identity: Option<(u32, u32)>,
    pub url: String,
}

/// The directory of `initdb` and `postgres`: `$SPOKE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
/// (Debian's layout, what `./scripts/setup` installs), else the `PATH`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SPOKE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn tool(dir: &Option<PathBuf>, name: &str) -> PathBuf {
    dir.as_ref()
        .map(|d| d.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// PostgreSQL refuses to run as root: when the tests run as root, the server runs as the `postgres` user.
fn server_identity() -> Option<(u32, u32)> {
    let uid = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    Some((
        uid("-u").expect("a postgres user exists (./scripts/setup installs PostgreSQL)"),
        uid("-g")?,
    ))
}

fn command(program: PathBuf, identity: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = identity {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let identity = server_identity();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        if let Some((uid, gid)) = identity {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("chown the cluster directory");
        }
        let status = command(tool(&bin, "initdb"), identity)
            .args([
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let child = Some(spawn_server(&bin, identity, dir.path(), port));
        Postgres {
            child,
            dir,
            port,
            bin,
            identity,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        }
    }

    /// Shuts the server down (its data stays): the database is unreachable until [`Postgres::restart`].
    pub fn stop(&mut self) {
        // Taken, so that a stopped server's PID, which the system may give to another process, is never signalled.
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn_server(
            &self.bin,
            self.identity,
            self.dir.path(),
            self.port,
        ));
    }
}

/// Runs `postgres` on the cluster in `dir` at `port` and waits until it listens.
fn spawn_server(
    bin: &Option<PathBuf>,
    identity: Option<(u32, u32)>,
    dir: &Path,
    port: u16,
) -> Child {
    let child = command(tool(bin, "postgres"), identity)
        .args([
            "-D",
            path(&dir.join("data")),
            "-p",
            &port.to_string(),
            "-k",
            path(dir),
        ])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "postgres did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGTERM lets the server shut down its backends; SIGKILL if it has not within 10 s.
        self.stop();
    }
}
