//! A throwaway PostgreSQL cluster for the tests: `initdb` and `pg_ctl` from
//! the Debian package (installed by `scripts/setup.sh`), in a temporary
//! folder, on a free loopback port, as the `postgres` user (or `nobody`)
//! when the tests run as root (PostgreSQL refuses to run as root). One cluster serves a
//! test process, each test in a database of its own; a watchdog stops the
//! cluster and removes its folder once the test process is gone, however
//! it ends.
//!
//! Shared by the test crates with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    port: u16,
    user: Option<&'static str>,
    dir: PathBuf,
}

impl Cluster {
    /// The test process's cluster, started on first use.
    pub fn shared() -> &'static Cluster {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        CLUSTER.get_or_init(|| Cluster::start().unwrap_or_else(|error| panic!("{error}")))
    }

    /// A cluster of the caller's own (to stop and start again), stopped
    /// when dropped.
    pub fn dedicated() -> Cluster {
        Cluster::start().unwrap_or_else(|error| panic!("{error}"))
    }

    fn start() -> Result<Cluster, String> {
        let bin = server_programs()?;
        let user = running_as_root().then(|| {
            let postgres = Command::new("id").arg("postgres").output();
            if postgres.is_ok_and(|output| output.status.success()) {
                "postgres"
            } else {
                "nobody"
            }
        });
        let dir = tempfile::Builder::new()
            .prefix("arbiter-postgres-")
            .tempdir()
            .map_err(|error| format!("a temporary folder: {error}"))?
            .keep();
        if let Some(user) = user {
            run(Command::new("chown").arg(user).arg(&dir))?;
        }
        let data = dir.join("data");
        let cluster = Cluster {
            bin,
            port: free_port()?,
            user,
            dir: dir.clone(),
        };
        run(cluster.command("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "arbiter",
            "--no-sync",
            "-E",
            "UTF8",
        ]))?;
        cluster.start_again()?;
        cluster.watch(&data, &dir)?;
        Ok(cluster)
    }

    /// Starts the stopped cluster (waiting until it accepts connections).
    pub fn start_again(&self) -> Result<(), String> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
                self.port,
                self.dir.display()
            ))
            .args(["-w", "start"]))
    }

    /// Stops the cluster at once, as a crash would (`-m immediate`).
    pub fn stop(&self) -> Result<(), String> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]))
    }

    /// A fresh, empty database; its URL.
    pub fn database(&self, name: &str) -> String {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let database = format!(
            "{}_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        run(self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "arbiter",
            ])
            .arg(&database))
        .unwrap_or_else(|error| panic!("{error}"));
        format!("postgres://arbiter@127.0.0.1:{}/{database}", self.port)
    }

    /// The rows `sql` returns on the database `url` named, one line each,
    /// columns separated by `|`.
    pub fn query(&self, url: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, url])
            .output()
            .unwrap_or_else(|error| panic!("psql: {error}"));
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// `program` from the server's programs, as the cluster's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    /// Stops the cluster and removes `dir` once this process has ended.
    fn watch(&self, data: &Path, dir: &Path) -> Result<(), String> {
        let stop = self.command("pg_ctl");
        let stop = std::iter::once(stop.get_program())
            .chain(stop.get_args())
            .map(|part| format!("'{}'", part.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            data = data.display(),
            dir = dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|error| format!("the cluster's watchdog: {error}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The folder of `initdb` and `pg_ctl`: `ARBITER_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian), else `pg_config --bindir`.
fn server_programs() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("ARBITER_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|bin| bin.join("initdb").exists())
        .ok_or_else(|| {
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: run \
             scripts/setup.sh, or apt-get install postgresql, or set ARBITER_PG_BIN"
                .to_owned()
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("a free port: {error}"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{:?}: {error}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}{}",
            command,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
