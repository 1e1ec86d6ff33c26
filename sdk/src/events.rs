//! Decoding of the program's events from transaction logs (`Program data: <base64>` lines,
//! what `emit!` writes on a real cluster). Host-built runs (tests, the local chain) do not
//! capture program logs, so Tessera's clients read state from accounts; events are for
//! indexers and explorers watching a real cluster.
use anchor_lang::{AnchorDeserialize, Discriminator};
use base64::Engine;
use tessera::events::*;

/// Any Tessera event.
#[derive(Debug)]
pub enum TesseraEvent {
    NetworkInitialized(NetworkInitialized),
    NetworkUpdated(NetworkUpdated),
    AdminChanged(AdminChanged),
    NodeRegistered(NodeRegistered),
    NodeUpdated(NodeUpdated),
    StakeAdded(StakeAdded),
    UnstakeRequested(UnstakeRequested),
    StakeWithdrawn(StakeWithdrawn),
    JobCreated(JobCreated),
    CancelRequested(CancelRequested),
    ReceiptPosted(ReceiptPosted),
    JobSettled(JobSettled),
    PayoutClaimed(PayoutClaimed),
    JobDisputed(JobDisputed),
    DisputeResolved(DisputeResolved),
    JobExpired(JobExpired),
    JobClosed(JobClosed),
}

fn try_as<T: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<T> {
    let body = data.strip_prefix(T::DISCRIMINATOR)?;
    T::try_from_slice(body).ok()
}

/// Decodes one event from its raw bytes (discriminator + Borsh body).
pub fn decode_event(data: &[u8]) -> Option<TesseraEvent> {
    use TesseraEvent as E;
    macro_rules! first_of {
        ($($kind:ident),* $(,)?) => {
            None $(.or_else(|| try_as::<$kind>(data).map(E::$kind)))*
        };
    }
    first_of!(
        NetworkInitialized,
        NetworkUpdated,
        AdminChanged,
        NodeRegistered,
        NodeUpdated,
        StakeAdded,
        UnstakeRequested,
        StakeWithdrawn,
        JobCreated,
        CancelRequested,
        ReceiptPosted,
        JobSettled,
        PayoutClaimed,
        JobDisputed,
        DisputeResolved,
        JobExpired,
        JobClosed,
    )
}

/// Every Tessera event in a transaction's log messages (other programs' data is skipped).
pub fn events_in_logs<'a>(logs: impl IntoIterator<Item = &'a String>) -> Vec<TesseraEvent> {
    logs.into_iter()
        .filter_map(|line| line.strip_prefix("Program data: "))
        .filter_map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .filter_map(|bytes| decode_event(&bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::prelude::Pubkey;
    use anchor_lang::AnchorSerialize;

    #[test]
    fn decodes_an_emitted_event_from_a_log_line() {
        let event = JobCreated {
            job: Pubkey::new_unique(),
            job_id: 7,
            artist: Pubkey::new_unique(),
            budget: 99,
        };
        let mut bytes = JobCreated::DISCRIMINATOR.to_vec();
        event.serialize(&mut bytes).unwrap();
        let line = format!(
            "Program data: {}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        );
        let logs = vec![
            "Program log: Instruction: CreateJob".to_string(),
            line,
            "Program data: AAAA".to_string(),
        ];
        let found = events_in_logs(&logs);
        assert_eq!(found.len(), 1);
        match &found[0] {
            TesseraEvent::JobCreated(e) => assert_eq!((e.job_id, e.budget), (7, 99)),
            other => panic!("decoded as {other:?}"),
        }
    }
}
