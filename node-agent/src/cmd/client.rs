//! The node's client of the orchestrator's node API: lease, heartbeat, submit, scenes.
//!
//! Requests are timestamped on the orchestrator's clock (the offset is measured from
//! `/v1/info` at start) and authenticated one of two ways:
//!
//! * **in a session** (`POST /v1/sessions`, one ed25519-signed request): later requests
//!   carry the session token and a keyed-blake3 MAC of the same request message
//!   ([`tessera_sdk::protocol::mac_request`]). Used only where the session key cannot be
//!   read on the way: an `https://` orchestrator or a loopback `http://` one. The session
//!   is renewed before it expires, and again on a `401 session-expired` (or a MAC the
//!   orchestrator does not accept); the request is then sent once more in the new session;
//! * **signed** ([`tessera_sdk::protocol::sign_request`]): every request ed25519-signed with
//!   the node key, for a plain-HTTP orchestrator elsewhere, or one that refuses sessions
//!   (asked again every [`REFUSED_RETRY`]).
//!
//! Tile signatures stay ed25519 either way: they are the slash evidence on-chain.
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::signature::{Keypair, Signer};
use tessera_render::hex;
use tokio::sync::Mutex;

/// The wire lease, shared with the orchestrator.
pub use tessera_sdk::protocol::Lease;

/// Requests a scene download may take (the first and its resumptions).
const SCENE_ATTEMPTS: u32 = 4;
/// How long the agent signs every request after the orchestrator refused a session (or
/// could not open one) before it asks again.
pub const REFUSED_RETRY: Duration = Duration::from_secs(600);
/// A session is renewed once less than this share of its life is left.
const RENEW_AT_LEFT: f64 = 0.2;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The HTTP client of everything the agent asks the orchestrator: `ca` (a PEM file of one
/// or more certificates) is trusted besides the public roots.
pub fn http_client(ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{}: not a PEM certificate bundle", ca.display()))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

/// Whether requests to `base` may carry a session: HTTPS, or HTTP to a loopback host.
pub fn sessions_safe(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
struct Info {
    orchestrator: String,
    time_ms: i64,
}

/// A session from `POST /v1/sessions`.
#[derive(Debug, Deserialize)]
struct SessionReply {
    session: String,
    key: String,
    expires_ms: i64,
}

/// How this client authenticates now.
enum Auth {
    /// Sessions are not used with this orchestrator (plain HTTP, not loopback).
    SignedOnly,
    /// No session yet, or the last one was dropped: open one before the next request.
    Closed,
    Open {
        token: String,
        key: [u8; 32],
        /// Orchestrator clock (ms) at which it is renewed ahead of its expiry.
        renew_at_ms: i64,
    },
    /// The orchestrator refused (or failed) a session: sign until then, then ask again.
    Refused { until: Instant },
}

/// What a request is authenticated with.
enum Proof {
    Signed,
    Session { token: String, key: [u8; 32] },
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Arc<Keypair>,
    /// The orchestrator's key: requests are signed for it alone.
    pub orchestrator: Pubkey,
    /// Orchestrator clock minus ours (ms), so a skewed local clock still signs fresh requests.
    offset_ms: i64,
    /// Timestamps of requests, strictly increasing.
    stamps: tessera_sdk::protocol::RequestStamps,
    /// Held while a session is opened, so concurrent requests (heartbeats) open one.
    auth: Mutex<Auth>,
    /// Sessions opened (the first included), for the log.
    sessions_opened: AtomicI64,
}

impl Client {
    /// Asks the orchestrator whom to sign for and what time it is.
    pub async fn connect(
        http: reqwest::Client,
        base: String,
        key: Arc<Keypair>,
    ) -> anyhow::Result<Self> {
        let sent = now_ms();
        let info: Info = http
            .get(format!("{base}/v1/info"))
            .send()
            .await
            // One line: the agent exits on it (a wrong CA, a refused connection).
            .map_err(|e| anyhow::anyhow!("connecting to {base}: {}", error_chain(&e)))?
            .error_for_status()?
            .json()
            .await
            .context("GET /v1/info")?;
        let offset_ms = info.time_ms - (sent + now_ms()) / 2;
        let auth = if sessions_safe(&base) {
            Auth::Closed
        } else {
            Auth::SignedOnly
        };
        Ok(Self::new(
            http,
            base,
            key,
            Pubkey::from_str(&info.orchestrator)?,
            offset_ms,
            auth,
        ))
    }

    fn new(
        http: reqwest::Client,
        base: String,
        key: Arc<Keypair>,
        orchestrator: Pubkey,
        offset_ms: i64,
        auth: Auth,
    ) -> Self {
        Self {
            http,
            base,
            key,
            orchestrator,
            offset_ms,
            stamps: Default::default(),
            auth: Mutex::new(auth),
            sessions_opened: AtomicI64::new(0),
        }
    }

    /// Now on the orchestrator's clock.
    pub fn now(&self) -> i64 {
        now_ms() + self.offset_ms
    }

    /// A fresh timestamp, later than every one before it.
    fn timestamp(&self) -> i64 {
        self.stamps.next(self.now())
    }

    /// What the next request carries: the open session (opened or renewed first if due),
    /// or the node key's signature.
    async fn proof(&self) -> Proof {
        let mut auth = self.auth.lock().await;
        match &*auth {
            Auth::SignedOnly => return Proof::Signed,
            Auth::Refused { until } if Instant::now() < *until => return Proof::Signed,
            Auth::Open {
                token,
                key,
                renew_at_ms,
            } if self.now() < *renew_at_ms => {
                return Proof::Session {
                    token: token.clone(),
                    key: *key,
                }
            }
            _ => {}
        }
        *auth = match self.open_session().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "session: {e:#}; signing every request for the next {}s",
                    REFUSED_RETRY.as_secs()
                );
                Auth::Refused {
                    until: Instant::now() + REFUSED_RETRY,
                }
            }
        };
        match &*auth {
            Auth::Open { token, key, .. } => Proof::Session {
                token: token.clone(),
                key: *key,
            },
            _ => Proof::Signed,
        }
    }

    /// `POST /v1/sessions`, signed with the node key.
    async fn open_session(&self) -> anyhow::Result<Auth> {
        let r = self
            .request(
                Method::POST,
                "/v1/sessions",
                b"{}".to_vec(),
                None,
                &Proof::Signed,
            )
            .await?;
        let r = ok_or_problem("/v1/sessions", r).await?;
        let s: SessionReply = r.json().await.context("POST /v1/sessions")?;
        let key: [u8; 32] = decode_hex(&s.key).context("session key")?;
        let now = self.now();
        let life = (s.expires_ms - now).max(0);
        let renew_at_ms = s.expires_ms - (life as f64 * RENEW_AT_LEFT) as i64;
        let n = self.sessions_opened.fetch_add(1, Ordering::SeqCst) + 1;
        eprintln!("session {n} open for {life} ms");
        Ok(Auth::Open {
            token: s.session,
            key,
            renew_at_ms,
        })
    }

    /// Forgets the session `token` (the orchestrator says it expired): the next request
    /// opens another. A session already replaced by a concurrent request is kept.
    async fn drop_session(&self, expired: &str) {
        let mut auth = self.auth.lock().await;
        if matches!(&*auth, Auth::Open { token, .. } if token == expired) {
            *auth = Auth::Closed;
        }
    }

    /// One request with the auth headers of `proof`.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        range: Option<&str>,
        proof: &Proof,
    ) -> anyhow::Result<reqwest::Response> {
        let ts = self.timestamp();
        let (m, o) = (method.as_str(), &self.orchestrator);
        let headers = match proof {
            Proof::Signed => tessera_sdk::protocol::sign_request(&self.key, o, m, path, ts, &body),
            Proof::Session { token, key } => {
                tessera_sdk::protocol::mac_request(token, key, o, m, path, ts, &body)
            }
        };
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        if let Some(range) = range {
            rb = rb.header(reqwest::header::RANGE, range);
        }
        rb.body(body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{path}: {}", error_chain(&e)))
    }

    /// An authenticated request; in a session, one the orchestrator finds expired is sent
    /// again in a new one. Error statuses become errors with the problem's text.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        range: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let proof = self.proof().await;
        let r = self
            .request(method.clone(), path, body.clone(), range, &proof)
            .await?;
        let r = match (&proof, r.status()) {
            (Proof::Session { token, .. }, StatusCode::UNAUTHORIZED) => {
                let text = r.text().await.unwrap_or_default();
                // Expired, or unknown to this orchestrator (another database's salt, e.g.
                // after a move): a fresh session fixes both; other 401s it would not.
                if !text.contains("session-expired") && !text.contains("bad-signature") {
                    bail!("{path}: 401 Unauthorized: {text}");
                }
                self.drop_session(token).await;
                let proof = self.proof().await;
                self.request(method, path, body, range, &proof).await?
            }
            _ => r,
        };
        ok_or_problem(path, r).await
    }

    pub async fn lease(&self) -> anyhow::Result<Option<Lease>> {
        let r = self
            .send(Method::POST, "/v1/leases", b"{}".to_vec(), None)
            .await?;
        if r.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(r.json().await?))
    }

    pub async fn heartbeat(&self, id: i64) -> anyhow::Result<()> {
        let path = format!("/v1/leases/{id}/heartbeat");
        self.send(Method::POST, &path, Vec::new(), None).await?;
        Ok(())
    }

    /// The scene bundle; a download that breaks off is resumed where it stopped (a signed
    /// request with `Range: bytes=N-`), up to [`SCENE_ATTEMPTS`] requests in all.
    pub async fn scene(&self, hash: &str) -> anyhow::Result<Vec<u8>> {
        let path = format!("/v1/scenes/{hash}");
        let mut bytes = Vec::new();
        for attempt in 1.. {
            match self.scene_part(&path, &mut bytes).await {
                Ok(()) => break,
                Err(e) if attempt < SCENE_ATTEMPTS => {
                    eprintln!("scene {hash}: {e:#}; resuming at byte {}", bytes.len())
                }
                Err(e) => return Err(e),
            }
        }
        if blake3::hash(&bytes).to_hex().as_str() != hash {
            bail!("scene {hash} arrived with another hash");
        }
        Ok(bytes)
    }

    /// Appends the rest of the scene at `path` to `into` (all of it if the server does not
    /// answer the range with 206).
    async fn scene_part(&self, path: &str, into: &mut Vec<u8>) -> anyhow::Result<()> {
        let range = (!into.is_empty()).then(|| format!("bytes={}-", into.len()));
        let resumed = range.is_some();
        let mut r = self
            .send(Method::GET, path, Vec::new(), range.as_deref())
            .await?;
        if resumed && r.status() != StatusCode::PARTIAL_CONTENT {
            into.clear();
        }
        while let Some(chunk) = r.chunk().await? {
            into.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// Submits a rendered tile, signed with the node key over (job, frame, tile, hash).
    /// With `next`, the reply carries the node's next lease (`"next"`, or null), saving
    /// the round trip of a separate `POST /v1/leases`.
    pub async fn submit(
        &self,
        lease: &Lease,
        png: &[u8],
        hash: &[u8; 32],
        next: bool,
    ) -> anyhow::Result<serde_json::Value> {
        let job = Pubkey::from_str(&lease.job_key)?;
        let msg = tessera_sdk::protocol::tile_message(&job, lease.frame, lease.tile, hash);
        let body = serde_json::json!({
            "pixel_hash": hex(hash),
            "signature": self.key.sign_message(&msg).to_string(),
            "png": base64::engine::general_purpose::STANDARD.encode(png),
        });
        let query = if next { "?next=1" } else { "" };
        let path = format!("/v1/leases/{}/submit{query}", lease.lease_id);
        let r = self
            .send(Method::POST, &path, serde_json::to_vec(&body)?, None)
            .await?;
        Ok(r.json().await?)
    }
}

/// The response, or an error with its status and problem text.
async fn ok_or_problem(path: &str, r: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = r.status();
    if status.is_client_error() || status.is_server_error() {
        let text = r.text().await.unwrap_or_default();
        bail!("{path}: {status}: {text}");
    }
    Ok(r)
}

/// An error and its causes on one line (reqwest's own message omits the TLS reason).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        cause = c.source();
    }
    s
}

fn decode_hex<const N: usize>(s: &str) -> anyhow::Result<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        bail!("expected {N} hex bytes");
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads a request's head; the `Range: bytes=N-` start it asks for.
    async fn read_head(sock: &mut tokio::net::TcpStream) -> Option<usize> {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        head.lines()
            .find_map(|l| l.strip_prefix("range: bytes="))
            .map(|r| r.trim().trim_end_matches('-').parse().unwrap())
    }

    /// A server that breaks the first download off half-way (fewer bytes than its
    /// `content-length`, then a close) and answers the resumption with the rest (206).
    #[tokio::test]
    async fn a_broken_scene_download_resumes_where_it_stopped() {
        let scene: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let hash = blake3::hash(&scene).to_hex().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (served, seen) = (scene.clone(), Arc::new(std::sync::Mutex::new(Vec::new())));
        let ranges = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let range = read_head(&mut sock).await;
                seen.lock().unwrap().push(range);
                let n = served.len();
                let (head, body) = match range {
                    None => (format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n"), &served[..n / 2]),
                    Some(from) => (
                        format!(
                            "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {from}-{}/{n}\r\n\r\n",
                            n - from,
                            n - 1
                        ),
                        &served[from..],
                    ),
                };
                sock.write_all(head.as_bytes()).await.unwrap();
                sock.write_all(body).await.unwrap();
                let _ = sock.shutdown().await;
            }
        });
        let client = Client::new(
            reqwest::Client::new(),
            format!("http://{addr}"),
            Arc::new(Keypair::new()),
            Pubkey::new_unique(),
            0,
            Auth::SignedOnly,
        );
        assert!(
            client.scene(&hash).await.unwrap() == scene,
            "the whole scene"
        );
        let asked = ranges.lock().unwrap().clone();
        assert_eq!(
            asked,
            vec![None, Some(scene.len() / 2)],
            "resumed at the break"
        );
    }

    /// One request off `sock`: its path and the session it names ("signed" without one).
    async fn read_request(sock: &mut tokio::net::TcpStream) -> (String, String) {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "request cut short");
            got.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
        let field = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let len: usize = field("content-length:").map_or(0, |v| v.parse().unwrap());
        while got.len() < end + len {
            let n = sock.read(&mut buf).await.unwrap();
            assert!(n > 0, "body cut short");
            got.extend_from_slice(&buf[..n]);
        }
        let path = head.split(' ').nth(1).unwrap().to_string();
        let session = field("x-tessera-session:").unwrap_or_else(|| "signed".into());
        (path, session)
    }

    /// An orchestrator that finds the first session expired at the first lease: the agent
    /// opens a second session (signed) and sends the lease again in it, once.
    #[tokio::test]
    async fn a_session_the_orchestrator_finds_expired_is_renewed_and_the_request_retried() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut opened = 0u8;
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let (path, session) = read_request(&mut sock).await;
                log.lock().unwrap().push(format!("{path} {session}"));
                let (status, body) = match path.as_str() {
                    "/v1/sessions" => {
                        opened += 1;
                        let s = serde_json::json!({
                            "session": format!("{opened:02x}"),
                            "key": hex(&[opened; 32]),
                            "expires_ms": now_ms() + 600_000,
                        });
                        ("200 OK", s.to_string())
                    }
                    _ if session == "01" => (
                        "401 Unauthorized",
                        r#"{"title":"session-expired","status":401}"#.to_string(),
                    ),
                    _ => ("204 No Content", String::new()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(reply.as_bytes()).await.unwrap();
                let _ = sock.shutdown().await;
            }
        });
        let client = Client::new(
            reqwest::Client::new(),
            format!("http://{addr}"),
            Arc::new(Keypair::new()),
            Pubkey::new_unique(),
            0,
            Auth::Closed,
        );
        assert!(
            client.lease().await.unwrap().is_none(),
            "no work, after the retry"
        );
        assert!(client.lease().await.unwrap().is_none());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                "/v1/sessions signed",
                "/v1/leases 01",
                "/v1/sessions signed",
                "/v1/leases 02",
                "/v1/leases 02",
            ]
        );
    }

    #[test]
    fn sessions_only_over_https_or_loopback() {
        assert!(sessions_safe("https://orch.example:8443"));
        assert!(sessions_safe("http://127.0.0.1:8080"));
        assert!(sessions_safe("http://localhost:8080"));
        assert!(sessions_safe("http://[::1]:8080"));
        assert!(!sessions_safe("http://10.0.0.5:8080"));
        assert!(!sessions_safe("http://orch.example"));
    }
}
