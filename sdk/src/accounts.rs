//! Decoding of the program's accounts from raw account data.
use anchor_lang::{AccountDeserialize, Discriminator};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("account data is not a {expected} account (discriminator mismatch or too short)")]
    WrongType { expected: &'static str },
    #[error("account data of a {0} account is corrupt: {1}")]
    Corrupt(&'static str, String),
}

/// Decodes any of the program's account types, checking its discriminator.
pub fn decode<T: AccountDeserialize + Discriminator>(data: &[u8]) -> Result<T, DecodeError> {
    let name = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("?");
    let name: &'static str = match name {
        "Network" => "Network",
        "Node" => "Node",
        "Job" => "Job",
        "Claim" => "Claim",
        "Contest" => "Contest",
        "OrchestratorBond" => "OrchestratorBond",
        _ => "Tessera",
    };
    if !data.starts_with(T::DISCRIMINATOR) {
        return Err(DecodeError::WrongType { expected: name });
    }
    let mut slice = data;
    T::try_deserialize(&mut slice).map_err(|e| DecodeError::Corrupt(name, e.to_string()))
}

/// The 8-byte prefix that marks an account type, for `getProgramAccounts` memcmp filters.
pub fn discriminator<T: Discriminator>() -> &'static [u8] {
    T::DISCRIMINATOR
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountSerialize;
    use tessera::state::{Claim, Job};

    #[test]
    fn decodes_its_own_type_and_refuses_another() {
        let claim = Claim {
            job: Default::default(),
            node_key: Default::default(),
            amount: 7,
            paid: 7,
            claimed_at: 1,
            bump: 255,
        };
        let mut data = Vec::new();
        claim.try_serialize(&mut data).unwrap();
        assert_eq!(decode::<Claim>(&data).unwrap().amount, 7);
        assert!(matches!(
            decode::<Job>(&data),
            Err(DecodeError::WrongType { expected: "Job" })
        ));
        assert!(decode::<Claim>(&data[..10]).is_err());
    }
}
