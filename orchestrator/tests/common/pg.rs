//! A throwaway PostgreSQL cluster per test binary: `initdb` and `pg_ctl` (as user
//! `postgres` when the tests run as root, which PostgreSQL refuses to run as) in a temp
//! dir, listening on a free loopback port, stopped when the binary exits; one database
//! per orchestrator.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The newest `/usr/lib/postgresql/*/bin` with an `initdb` (or `$PG_BIN`).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(b) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(b));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `tool args…`, as `postgres` when we are root.
fn pg_tool(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or(
        "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql",
    )?;
    let dir = tempfile::Builder::new()
        .prefix("tessera-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    if is_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.arg("postgres").arg(&dir);
                c
            },
            "chown",
        )?;
    }
    let data = dir.join("data");
    let mut initdb = pg_tool(&bin, "initdb");
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "tessera", "-E", "UTF8", "--no-sync"]);
    run(initdb, "initdb")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    // fsync off: a test cluster need not survive power loss, and it saves seconds.
    let opts = format!(
        "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
        dir.display()
    );
    let mut ctl = pg_tool(&bin, "pg_ctl");
    ctl.arg("-D")
        .arg(&data)
        .args(["-o", &opts, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"]);
    run(ctl, "pg_ctl start")?;
    // SAFETY: registers a plain extern "C" fn that only reads a set OnceLock.
    unsafe { libc::atexit(stop_at_exit) };
    Ok(Cluster { dir, bin, port })
}

extern "C" fn stop_at_exit() {
    if let Some(Ok(c)) = CLUSTER.get() {
        let mut ctl = pg_tool(&c.bin, "pg_ctl");
        ctl.arg("-D")
            .arg(c.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = ctl.output();
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

/// The cluster of this test binary, started on first use.
pub fn cluster() -> Result<&'static Cluster, String> {
    CLUSTER.get_or_init(start).as_ref().map_err(Clone::clone)
}

impl Cluster {
    pub fn url(&self, db: &str) -> String {
        format!("postgres://tessera@127.0.0.1:{}/{db}", self.port)
    }
}

/// A new empty database; its URL.
pub fn database() -> String {
    let c = cluster().expect("postgres cluster");
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = c.url("postgres");
    let create = format!("CREATE DATABASE {name}");
    // The blocking client must not run on an async worker: a thread of its own.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
        client.batch_execute(&create).expect("create database");
    })
    .join()
    .expect("create database");
    c.url(&name)
}
