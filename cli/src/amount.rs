//! Token amounts as people write them ("1.5") ↔ base units, by the mint's decimals.
use crate::error::{input, CliResult};

#[derive(Debug, Clone, Copy)]
pub struct Tokens {
    pub decimals: u8,
}

impl Tokens {
    /// Parses "12", "0.25" or "1_000" into base units; refuses more decimals than the mint has.
    pub fn parse(&self, text: &str) -> CliResult<u64> {
        let bad = || input(format!("not a token amount: {text:?} (e.g. 1.5)"));
        let clean = text.trim().replace('_', "");
        let (whole, frac) = clean.split_once('.').unwrap_or((&clean, ""));
        if whole.is_empty() && frac.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        if frac.len() > self.decimals as usize {
            return Err(input(format!(
                "{text} has more than the token's {} decimals",
                self.decimals
            )));
        }
        let scale = 10u64.pow(self.decimals as u32);
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac_units: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse::<u64>().map_err(|_| bad())?
                * 10u64.pow((self.decimals as usize - frac.len()) as u32)
        };
        whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_units))
            .ok_or_else(|| input(format!("{text} is too large")))
    }

    /// Base units → "1.500000" (every decimal shown, so columns line up).
    pub fn format(&self, units: u64) -> String {
        tessera_sdk::token::format_amount(units, self.decimals)
    }

    /// Base units → tokens as a float, for JSON output beside the exact base units.
    pub fn as_f64(&self, units: u64) -> f64 {
        units as f64 / 10f64.powi(self.decimals as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let t = Tokens { decimals: 6 };
        assert_eq!(t.parse("1.5").unwrap(), 1_500_000);
        assert_eq!(t.parse("100").unwrap(), 100_000_000);
        assert_eq!(t.parse(".01").unwrap(), 10_000);
        assert_eq!(t.parse("1_000").unwrap(), 1_000_000_000);
        for bad in [
            "",
            ".",
            "-1",
            "1.2.3",
            "abc",
            "1.0000001",
            "99999999999999999999",
        ] {
            assert!(t.parse(bad).is_err(), "{bad}");
        }
        assert_eq!(t.format(1_500_000), "1.500000");
        assert_eq!(t.format(7), "0.000007");
        assert_eq!(Tokens { decimals: 0 }.format(7), "7");
    }
}
