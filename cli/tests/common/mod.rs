//! A whole network on loopback from the real binaries: `tessera-localnet`,
//! `tessera-migrate`, `tessera-orchestrator`, `node-agent run` and `tessera` itself.
//! Every process is killed when the `Net` is dropped.
#![allow(dead_code)]
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SCENE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../node-agent/render/assets/cornell.glb"
);

/// A sibling binary of `tessera` in the target directory.
pub fn bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_tessera")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build every binary first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct Net {
    pub dir: tempfile::TempDir,
    pub rpc: String,
    pub orch_port: u16,
    pub orchestrator: Option<Child>,
    pub agents: Vec<Child>,
    localnet: Child,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

impl Net {
    /// Chain + bootstrapped network + orchestrator (no nodes yet).
    pub fn start() -> Net {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut localnet = Command::new(bin("tessera-localnet"))
            .args(["--data-dir"])
            .arg(dir.path().join("chain"))
            .args(["--port", &port.to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut localnet, "tessera-localnet");
        let mut net = Net {
            rpc: format!("http://127.0.0.1:{port}"),
            orch_port: free_port(),
            orchestrator: None,
            agents: vec![],
            localnet,
            dir,
        };
        let orch_key = net.keygen("orchestrator");
        net.ok(None, &["dev", "fund", &orch_key, "--sol", "10"]);
        let out = Command::new(bin("tessera-migrate"))
            .args(["--rpc-url", &net.rpc, "--keypair"])
            .arg(net.faucet())
            .args(["--orchestrator", &orch_key])
            .args(["--challenge-window", "3600", "--unstake-cooldown", "7200"])
            .args(["--resolution-period", "600", "--settle-grace", "30"])
            .arg("--state-dir")
            .arg(net.path("migrations"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        net.start_orchestrator();
        net
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn faucet(&self) -> PathBuf {
        self.path("chain/faucet.json")
    }

    pub fn orchestrator_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.orch_port)
    }

    pub fn start_orchestrator(&mut self) {
        let mut child = Command::new(bin("tessera-orchestrator"))
            .arg("--db")
            .arg(self.path("orchestrator.sqlite"))
            .arg("--blobs")
            .arg(self.path("blobs"))
            .args(["--listen", &format!("127.0.0.1:{}", self.orch_port)])
            .args(["--rpc-url", &self.rpc, "--keypair"])
            .arg(self.path("orchestrator.json"))
            .args(["--verify-share", "0.2", "--lease-secs", "4"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(self.orch_port, &mut child, "tessera-orchestrator");
        self.orchestrator = Some(child);
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_orchestrator(&mut self) {
        if let Some(mut c) = self.orchestrator.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// `tessera` with this network's settings; `--keypair` as given per call.
    pub fn tessera(&self, args: &[&str]) -> Run {
        self.tessera_as(None, args)
    }

    pub fn tessera_as(&self, keypair: Option<&Path>, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin("tessera"));
        cmd.env("TESSERA_CONFIG", self.path("config.yml"));
        // This network's endpoints, unless the call names its own.
        if !args.contains(&"--url") {
            cmd.args(["--url", &self.rpc]);
        }
        if !args.contains(&"--orchestrator") {
            cmd.args(["--orchestrator", &self.orchestrator_url()]);
        }
        if let Some(k) = keypair {
            cmd.arg("--keypair").arg(k);
        }
        Run::from(cmd.args(args).stdin(Stdio::null()).output().unwrap())
    }

    /// Runs and requires success.
    pub fn ok(&self, keypair: Option<&Path>, args: &[&str]) -> Run {
        let r = self.tessera_as(keypair, args);
        assert_eq!(
            r.code, 0,
            "tessera {args:?} failed:\n{}\n{}",
            r.stdout, r.stderr
        );
        r
    }

    /// A new keypair file `<name>.json`; returns its address.
    pub fn keygen(&self, name: &str) -> String {
        let path = self.path(&format!("{name}.json"));
        let r = self.ok(None, &["dev", "keygen", path.to_str().unwrap()]);
        r.stdout.trim().to_string()
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.json"))
    }

    /// A wallet with SOL and network tokens (minted by the faucet, the mint authority).
    pub fn funded(&self, name: &str, tokens: &str) -> (String, PathBuf) {
        let address = self.keygen(name);
        self.ok(
            Some(&self.faucet()),
            &["dev", "fund", &address, "--sol", "10", "--tokens", tokens],
        );
        (address, self.key(name))
    }

    /// An operator wallet and a registered node `node-<i>` staking 2 tokens, the chain clock
    /// moved past its registration.
    pub fn operator(&self, i: usize) -> (PathBuf, PathBuf) {
        let (_, wallet) = self.funded(&format!("operator-{i}"), "5");
        let node = self.key(&format!("node-{i}"));
        self.ok(
            Some(&wallet),
            &[
                "node",
                "register",
                "--stake",
                "2",
                "--score",
                "30",
                "--node-keypair",
                node.to_str().unwrap(),
            ],
        );
        // A node witnesses (its checks can convict) only jobs created in a later chain
        // second than its registration; without it, checks wait `--witness-wait-ms`.
        self.ok(None, &["dev", "advance-clock", "2"]);
        (wallet, node)
    }

    pub fn start_agent(&mut self, node: &Path) -> usize {
        self.start_agent_with(node, &[])
    }

    pub fn start_agent_with(&mut self, node: &Path, extra: &[&str]) -> usize {
        let child = Command::new(bin("node-agent"))
            .args([
                "run",
                "--orchestrator",
                &self.orchestrator_url(),
                "--url",
                &self.rpc,
            ])
            .arg("--keypair")
            .arg(node)
            .arg("--data-dir")
            .arg(node.with_extension("data"))
            .args(["--idle-secs", "1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.agents.push(child);
        self.agents.len() - 1
    }

    pub fn kill_agent(&mut self, i: usize) {
        self.agents[i].kill().unwrap();
        self.agents[i].wait().unwrap();
    }

    /// Token balance (base units) of a wallet, via `tessera balance`.
    pub fn tokens_of(&self, wallet: &str) -> u64 {
        self.ok(None, &["balance", wallet, "--output", "json"])
            .json()["tokens"]
            .as_u64()
            .unwrap()
    }

    pub fn network(&self) -> Value {
        self.ok(None, &["network", "--output", "json"]).json()
    }

    pub fn job_status(&self, job: u64) -> Value {
        self.ok(
            None,
            &["job", "status", &job.to_string(), "--output", "json"],
        )
        .json()
    }

    /// Polls `f` until it is true or `secs` pass.
    pub fn wait_until(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let started = Instant::now();
        while !f() {
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in self.agents.iter_mut().chain(self.orchestrator.as_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.localnet.kill();
        let _ = self.localnet.wait();
    }
}
