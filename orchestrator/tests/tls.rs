//! HTTPS (`Config::tls`) and the session rule (`Config::sessions_allowed`), with
//! certificates made here by rcgen (a throwaway CA and a server certificate for 127.0.0.1).
//! The agent tests run the real `node-agent` binary and are ignored by default like
//! `node_agent.rs` (`cargo build -p tessera-node-agent`, then `-- --ignored`).
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tessera_orchestrator::tls::TlsFiles;

/// PEM files of a CA, and a server certificate and key it signed for 127.0.0.1/localhost.
struct Pki {
    ca: PathBuf,
    files: TlsFiles,
}

fn ca_and_cert(dir: &Path, name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("tessera test CA {name}"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let path = |f: &str| dir.join(format!("{name}-{f}"));
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("cert.pem"), cert.pem()).unwrap();
    std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
    Pki {
        ca: path("ca.pem"),
        files: TlsFiles {
            cert: path("cert.pem"),
            key: path("key.pem"),
        },
    }
}

/// A client trusting `ca` (and the public roots).
fn trusting(ca: &Path) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The orchestrator's URL with its unspecified listen address replaced by loopback.
fn reachable(url: &str) -> String {
    url.replace("0.0.0.0", "127.0.0.1")
}

/// `tessera_requests_authenticated_total{kind=…}` from `/metrics`.
async fn authenticated(orch: &TestOrch, kind: &str) -> u64 {
    let (st, text) = orch.get_bytes("/metrics").await;
    assert!(st.is_success());
    let prefix = format!("tessera_requests_authenticated_total{{kind=\"{kind}\"}} ");
    String::from_utf8(text)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0)
}

/// A node opens a session over HTTPS on a listener that is not loopback; the same
/// listener in plain HTTP refuses it (403 `sessions-need-tls`, before any other check)
/// unless started with `allow_sessions_over_http`; a client that does not trust the CA
/// gets no connection at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_need_https_off_loopback() {
    let chain = TestChain::start().await;
    let (_, key) = chain.register_node(MIN_STAKE).await;
    let mut node = SimNode::new(key);
    let anywhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));

    let plain = TestOrch::start(&chain, |c| c.listen = anywhere).await;
    let url = reachable(&plain.url);
    assert!(url.starts_with("http://"), "{url}");
    let (st, v) = node
        .request(&url, "POST", "/v1/sessions", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["title"], "sessions-need-tls");
    // Signed requests still work there.
    let (st, v) = node
        .request(&url, "POST", "/v1/leases", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    drop(plain);

    let allowed = TestOrch::start(&chain, |c| {
        c.listen = anywhere;
        c.allow_sessions_over_http = true;
    })
    .await;
    let node2 = SimNode::new(node.key.insecure_clone());
    let url = reachable(&allowed.url);
    let (st, v) = node2
        .request(&url, "POST", "/v1/sessions", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    drop(allowed);

    let dir = tempfile::tempdir().unwrap();
    let pki = ca_and_cert(dir.path(), "good");
    let tls = TestOrch::start(&chain, |c| {
        c.listen = anywhere;
        c.tls = Some(pki.files.clone());
    })
    .await;
    let url = reachable(&tls.url);
    assert!(url.starts_with("https://"), "{url}");
    // Without the CA: the handshake fails, nothing is served.
    let err = reqwest::Client::new()
        .get(format!("{url}/v1/info"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    node = SimNode::new(node.key.insecure_clone());
    node.http = trusting(&pki.ca);
    let (st, v) = node
        .request(&url, "POST", "/v1/sessions", b"{}".to_vec())
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["key"].as_str().unwrap().len(), 64);
}

/// The real agent renders a 16-tile job over HTTPS (a private CA given with
/// `--orchestrator-ca`) in sessions that live 400 ms, so it renews them while it works and
/// polls for more: every
/// tile is rendered, acknowledged and verified, the node's ed25519-signed requests are
/// exactly the sessions it opened (one each), and its lease, heartbeat, scene and submit
/// requests are MACed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Vulkan device and a built node-agent"]
async fn the_agent_renders_a_job_over_https_in_sessions_it_renews() {
    let chain = TestChain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = ca_and_cert(dir.path(), "good");
    let mut orch = TestOrch::start(&chain, |c| {
        c.tls = Some(pki.files.clone());
        c.session_ttl_ms = 400;
    })
    .await;
    orch.http = trusting(&pki.ca);
    let id = chain.create_job(1, 100).await;
    orch.register(json!({"job_id": id})).await;
    let (_, key) = chain.register_node(MIN_STAKE).await;
    let kp = dir.path().join("node.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    // The artist's signed requests are done; from here the node's are all that count.
    let (signed0, macs0) = (
        authenticated(&orch, "signature").await,
        authenticated(&orch, "mac").await,
    );
    let log = dir.path().join("agent.log");
    let mut agent = std::process::Command::new(agent_bin())
        .args(["run", "--orchestrator", &orch.url, "--idle-secs", "1"])
        .arg("--orchestrator-ca")
        .arg(&pki.ca)
        .arg("--keypair")
        .arg(&kp)
        .arg("--data-dir")
        .arg(dir.path().join("node-data"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("node-agent binary");
    // Polled unsigned (the public view), so the artist adds no signed request.
    let until = std::time::Instant::now() + Duration::from_secs(240);
    let status = loop {
        let s = orch.public_status(id).await;
        if s["state"] == "posted" {
            break s;
        }
        assert!(std::time::Instant::now() < until, "never posted: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["counts"]["verified"], 16);
    // A quiet machine renders the 16 tiles inside one session; the agent's idle lease polls
    // (one a second) outlive it, so a renewal happens whatever the render took.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (signed, macs) = (
        authenticated(&orch, "signature").await - signed0,
        authenticated(&orch, "mac").await - macs0,
    );
    interrupt(&mut agent).await;
    let log = std::fs::read_to_string(&log).unwrap();
    let sessions = log.lines().filter(|l| l.starts_with("session ")).count() as u64;
    let acknowledged = log
        .lines()
        .filter(|l| l.ends_with("(acknowledged)"))
        .count();
    eprintln!("{sessions} sessions, {signed} signed and {macs} MACed requests");
    assert_eq!(acknowledged, 16, "every tile acknowledged:\n{log}");
    assert!(sessions >= 2, "the 400 ms session was renewed:\n{log}");
    assert_eq!(signed, sessions, "one signed request per session:\n{log}");
    // 16 submits at least (each hands over the next lease), plus scene and leases.
    assert!(macs >= 16, "{macs} MACed requests");
    assert!(!log.contains("signing every request"), "{log}");
}

/// An agent given another CA than the one that signed the orchestrator's certificate
/// exits non-zero at once, with one line that names the certificate problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a built node-agent"]
async fn the_agent_refuses_a_certificate_of_another_ca() {
    let chain = TestChain::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (good, other) = (
        ca_and_cert(dir.path(), "good"),
        ca_and_cert(dir.path(), "other"),
    );
    let orch = TestOrch::start(&chain, |c| c.tls = Some(good.files.clone())).await;
    let key = solana_sdk::signature::Keypair::new();
    let kp = dir.path().join("node.json");
    std::fs::write(
        &kp,
        serde_json::to_string(&key.to_bytes().to_vec()).unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new(agent_bin())
        .args(["run", "--orchestrator", &orch.url, "--no-claim"])
        .arg("--orchestrator-ca")
        .arg(&other.ca)
        .arg("--keypair")
        .arg(&kp)
        .arg("--data-dir")
        .arg(dir.path().join("node-data"))
        // What an operator sees by default (anyhow adds a backtrace under RUST_BACKTRACE).
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("node-agent binary");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].starts_with("Error: connecting to https://") && lines[0].contains("certificate"),
        "{err}"
    );
}
