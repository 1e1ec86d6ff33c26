//! The public tile event stream (`GET /v1/jobs/{id}/events`) of every instance.
//!
//! On SQLite (one instance) events go through an in-process broadcast channel. On
//! PostgreSQL an instance publishes with `pg_notify` on [`CHANNEL`] and every instance,
//! itself included, `LISTEN`s and forwards what arrives to its own subscribers: a client
//! subscribed to instance A sees the tiles verified on instance B, each event once (an
//! instance never broadcasts its own events directly, it hears them back like the others).
//!
//! Only [`PUBLIC_EVENTS`] are ever published or forwarded (issue 14: leases, awaited checks
//! and tiebreaks would tell a node which lease is a check). Delivery is best effort, as
//! in-process: a listener that loses its connection reconnects and misses what was sent
//! meanwhile; clients read the job's status for the settled truth.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::NoTls;
use tokio::sync::broadcast;
use tracing::{debug, warn};

use crate::api::{TileEvent, PUBLIC_EVENTS};
use crate::error::StoreError;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "tessera_events";
/// Events sent in one `pg_notify` round trip at most.
const BATCH: usize = 256;
/// How often the listener looks at the stop flag while idle.
const IDLE_CHECK: Duration = Duration::from_millis(250);
/// Wait before reconnecting a lost publisher or listener connection.
const RECONNECT: Duration = Duration::from_millis(500);

/// Publishes tile events and hands out subscriptions.
pub struct Events {
    local: broadcast::Sender<TileEvent>,
    /// PostgreSQL: the publisher thread's queue (`None`: in-process only).
    notify: Option<mpsc::Sender<String>>,
    stop: Arc<AtomicBool>,
}

impl Events {
    /// In-process only (SQLite: one instance).
    pub fn in_process() -> Self {
        Self {
            local: broadcast::channel(4096).0,
            notify: None,
            stop: Arc::default(),
        }
    }

    /// Through PostgreSQL `LISTEN/NOTIFY` on the database at `url`, shared by every
    /// instance on it. Returns once the listener is subscribed, so nothing published after
    /// that is missed.
    pub async fn postgres(url: &str) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("--db: {e}")))?;
        let local = broadcast::channel(4096).0;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        // The blocking client runs a runtime of its own: threads, not async tasks.
        let cfg = config.clone();
        let listener = tokio::task::spawn_blocking(move || connect_listener(&cfg))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))??;
        {
            let (config, local, stop) = (config.clone(), local.clone(), stop.clone());
            std::thread::Builder::new()
                .name("events-listen".into())
                .spawn(move || listen(config, listener, local, stop))
                .map_err(|e| StoreError::Pool(e.to_string()))?;
        }
        std::thread::Builder::new()
            .name("events-notify".into())
            .spawn(move || publish(config, rx))
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        Ok(Self {
            local,
            notify: Some(tx),
            stop,
        })
    }

    /// Publishes `event` if it is public (anything else is dropped here).
    pub fn publish(&self, event: TileEvent) {
        if !PUBLIC_EVENTS.contains(&event.event.as_str()) {
            return;
        }
        match &self.notify {
            None => {
                let _ = self.local.send(event);
            }
            Some(q) => match serde_json::to_string(&event) {
                Ok(json) => {
                    let _ = q.send(json);
                }
                Err(e) => warn!(error = %e, "an event did not serialize"),
            },
        }
    }

    /// Events of every instance from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TileEvent> {
        self.local.subscribe()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // The publisher ends when its queue's sender goes; the listener at its next check.
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn connect_listener(config: &postgres::Config) -> Result<postgres::Client, StoreError> {
    let mut c = config.connect(NoTls)?;
    c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(c)
}

/// Forwards notifications to this instance's subscribers until `stop`; reconnects.
fn listen(
    config: postgres::Config,
    mut client: postgres::Client,
    local: broadcast::Sender<TileEvent>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let got = client.notifications().timeout_iter(IDLE_CHECK).next();
        match got {
            Ok(Some(n)) => match serde_json::from_str::<TileEvent>(n.payload()) {
                Ok(ev) if PUBLIC_EVENTS.contains(&ev.event.as_str()) => {
                    let _ = local.send(ev);
                }
                Ok(ev) => debug!(event = %ev.event, "a non-public event on the channel ignored"),
                Err(e) => debug!(error = %e, "an unreadable notification ignored"),
            },
            Ok(None) if !client.is_closed() => {}
            Ok(None) | Err(_) => {
                warn!("event listener connection lost; reconnecting");
                client = loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(RECONNECT);
                    match connect_listener(&config) {
                        Ok(c) => break c,
                        Err(e) => warn!(error = %e, "event listener reconnect failed"),
                    }
                };
            }
        }
    }
}

/// Sends queued events with `pg_notify`, a batch per round trip, until the queue closes.
fn publish(config: postgres::Config, rx: mpsc::Receiver<String>) {
    let mut client: Option<postgres::Client> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(BATCH - 1));
        for attempt in 0..2 {
            let c = match client.as_mut() {
                Some(c) => c,
                None => match config.connect(NoTls) {
                    Ok(c) => client.insert(c),
                    Err(e) => {
                        warn!(error = %e, "event publisher cannot connect; events dropped");
                        std::thread::sleep(RECONNECT);
                        break;
                    }
                },
            };
            let sent = c.execute(
                "SELECT pg_notify($1, e) FROM unnest($2::text[]) AS e",
                &[&CHANNEL, &batch],
            );
            match sent {
                Ok(_) => break,
                Err(e) => {
                    client = None;
                    if attempt == 1 {
                        warn!(error = %e, n = batch.len(), "publishing events failed; dropped");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_events_are_published() {
        let events = Events::in_process();
        let mut rx = events.subscribe();
        for e in [
            "leased",
            "awaiting-check",
            "verified",
            "requeued",
            "job-ready",
        ] {
            events.publish(TileEvent {
                job_id: 1,
                frame: 1,
                tile: 0,
                event: e.into(),
                node: None,
            });
        }
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.event)
            .collect();
        assert_eq!(got, ["verified", "job-ready"]);
    }
}
