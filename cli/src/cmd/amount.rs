//! Amounts as people write them: "1.5" TON (9 decimals) or USDT (6
//! decimals), parsed exactly into the smallest unit and shown back the same
//! way. Nothing is ever rounded: an amount with more decimals than the asset
//! has is refused, since the chain could not move it as written.

use std::fmt;

/// An asset and its decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// TON: 1 TON = 10^9 nanotons.
    Ton,
    /// USDT (jetton): 1 USDT = 10^6 micro-USDT.
    Usdt,
}

impl Asset {
    pub fn decimals(self) -> u32 {
        match self {
            Asset::Ton => 9,
            Asset::Usdt => 6,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Asset::Ton => "TON",
            Asset::Usdt => "USDT",
        }
    }
}

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("no amount given: write e.g. 1.5 (in {0})")]
    Empty(&'static str),
    #[error(
        "amount {input:?} is not a number: write digits with at most one '.', e.g. 1.5 or 0.25"
    )]
    NotANumber { input: String },
    #[error("amount {input:?} is negative: amounts are what you send, write it without '-'")]
    Negative { input: String },
    #[error(
        "amount {input:?} has {got} decimals but {symbol} has {max}: it cannot be sent exactly; write at most {max} decimals"
    )]
    TooManyDecimals {
        input: String,
        got: usize,
        max: u32,
        symbol: &'static str,
    },
    #[error("amount {input:?} is written for {written}, but this takes {expected}")]
    WrongUnit {
        input: String,
        written: String,
        expected: &'static str,
    },
    #[error("amount {input:?} is too large")]
    TooLarge { input: String },
}

/// Parses `s` (e.g. "1.5", "1.5 TON", "0.000000001") into the asset's
/// smallest unit. A trailing unit, if written, must be the asset's symbol.
pub fn parse(s: &str, asset: Asset) -> Result<u128, AmountError> {
    let input = s.to_owned();
    let mut t = s.trim();
    if let Some(i) = t.find(|c: char| c.is_ascii_alphabetic()) {
        let unit = t[i..].trim();
        if !unit.eq_ignore_ascii_case(asset.symbol()) {
            return Err(AmountError::WrongUnit {
                input,
                written: unit.to_owned(),
                expected: asset.symbol(),
            });
        }
        t = t[..i].trim();
    }
    if t.is_empty() {
        return Err(AmountError::Empty(asset.symbol()));
    }
    if t.starts_with('-') {
        return Err(AmountError::Negative { input });
    }
    let t = t.strip_prefix('+').unwrap_or(t).replace('_', "");
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t.as_str(), ""),
    };
    let digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(AmountError::NotANumber { input });
    }
    let max = asset.decimals();
    // Trailing zeros change nothing ("1.500" is 1.5), so only significant digits count.
    let frac_sig = frac.trim_end_matches('0');
    if frac_sig.len() > max as usize {
        return Err(AmountError::TooManyDecimals {
            input,
            got: frac.len(),
            max,
            symbol: asset.symbol(),
        });
    }
    let scale = 10u128.pow(max);
    let too_large = || AmountError::TooLarge {
        input: input.clone(),
    };
    let w: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let f: u128 = if frac_sig.is_empty() {
        0
    } else {
        frac_sig.parse::<u128>().map_err(|_| too_large())? * 10u128.pow(max - frac_sig.len() as u32)
    };
    w.checked_mul(scale)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(too_large)
}

/// An amount in an asset's smallest unit, shown as "1.5 TON".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub u128, pub Asset);

impl Amount {
    pub fn ton(nanotons: u128) -> Self {
        Self(nanotons, Asset::Ton)
    }

    /// The number without its unit, exact ("1.5", "0.000000001", "10").
    pub fn number(&self) -> String {
        let scale = 10u128.pow(self.1.decimals());
        let (w, f) = (self.0 / scale, self.0 % scale);
        if f == 0 {
            return w.to_string();
        }
        let frac = format!("{f:0width$}", width = self.1.decimals() as usize);
        format!("{w}.{}", frac.trim_end_matches('0'))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.1.symbol())
    }
}

/// Shorthand for showing nanotons.
pub fn ton(nanotons: u128) -> Amount {
    Amount::ton(nanotons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ton_amounts_parse_exactly() {
        assert_eq!(parse("1", Asset::Ton), Ok(1_000_000_000));
        assert_eq!(parse("1.5", Asset::Ton), Ok(1_500_000_000));
        assert_eq!(parse("0.000000001", Asset::Ton), Ok(1));
        assert_eq!(parse(".25", Asset::Ton), Ok(250_000_000));
        assert_eq!(parse("2.", Asset::Ton), Ok(2_000_000_000));
        assert_eq!(parse("1.500000000000", Asset::Ton), Ok(1_500_000_000));
        assert_eq!(parse(" 10 TON ", Asset::Ton), Ok(10_000_000_000));
        assert_eq!(parse("10ton", Asset::Ton), Ok(10_000_000_000));
        assert_eq!(parse("1_000", Asset::Ton), Ok(1_000_000_000_000));
    }

    #[test]
    fn usdt_has_six_decimals() {
        assert_eq!(parse("1.5", Asset::Usdt), Ok(1_500_000));
        assert_eq!(parse("0.000001 USDT", Asset::Usdt), Ok(1));
        assert!(matches!(
            parse("0.0000001", Asset::Usdt),
            Err(AmountError::TooManyDecimals { max: 6, got: 7, .. })
        ));
    }

    #[test]
    fn amounts_that_would_round_are_refused() {
        let e = parse("1.0000000001", Asset::Ton).unwrap_err();
        assert!(
            matches!(
                e,
                AmountError::TooManyDecimals {
                    got: 10,
                    max: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("cannot be sent exactly"), "{e}");
    }

    #[test]
    fn malformed_amounts_are_refused_with_a_reason() {
        for bad in ["", " ", ".", "1.2.3", "1,5", "abc", "1e9", "0x10", "1 .5"] {
            assert!(parse(bad, Asset::Ton).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            parse("-1", Asset::Ton),
            Err(AmountError::Negative { .. })
        ));
        assert!(matches!(
            parse("1 USDT", Asset::Ton),
            Err(AmountError::WrongUnit { .. })
        ));
        assert!(matches!(
            parse("999999999999999999999999999999999", Asset::Ton),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn amounts_show_as_written() {
        assert_eq!(ton(1_500_000_000).to_string(), "1.5 TON");
        assert_eq!(ton(1).to_string(), "0.000000001 TON");
        assert_eq!(ton(10_000_000_000).to_string(), "10 TON");
        assert_eq!(ton(0).to_string(), "0 TON");
        assert_eq!(Amount(1_500_000, Asset::Usdt).to_string(), "1.5 USDT");
        for n in [0u128, 1, 999_999_999, 1_000_000_001, 123_456_789_012] {
            assert_eq!(parse(&ton(n).to_string(), Asset::Ton), Ok(n));
        }
    }
}
