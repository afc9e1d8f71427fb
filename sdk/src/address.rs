//! Addresses: the raw `workchain:hex` form and the 48-character user-friendly
//! form (base64 with bounceable and testnet flags and a CRC16 checksum).
//!
//! The address type is `tonlib-core`'s [`TonAddress`]; this module adds strict
//! parsing with typed errors and only accepts the basechain (0) and masterchain (-1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use crc::{CRC_16_XMODEM, Crc};

use crate::{Error, Result, TonAddress, TonHash};

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);
const TAG_BOUNCEABLE: u8 = 0x11;
const TAG_NON_BOUNCEABLE: u8 = 0x51;
const TAG_TESTNET: u8 = 0x80;

/// How an address was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressForm {
    Raw,
    UserFriendly { bounceable: bool, testnet: bool },
}

/// An address together with the form it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    pub address: TonAddress,
    pub form: AddressForm,
}

/// Parses either form; use [`ParsedAddress::form`] to see the flags.
pub fn parse(s: &str) -> Result<ParsedAddress> {
    if s.contains(':') {
        parse_raw(s).map(|address| ParsedAddress {
            address,
            form: AddressForm::Raw,
        })
    } else {
        parse_user_friendly(s)
    }
}

/// Parses either form and drops the flags.
pub fn parse_address(s: &str) -> Result<TonAddress> {
    parse(s).map(|p| p.address)
}

/// Parses `workchain:64-hex-digits`.
pub fn parse_raw(s: &str) -> Result<TonAddress> {
    let bad = |reason| Error::AddressFormat {
        input: s.to_owned(),
        reason,
    };
    let (wc, hash) = s
        .split_once(':')
        .ok_or_else(|| bad("raw form is workchain:hex"))?;
    let workchain: i32 = wc.parse().map_err(|_| bad("workchain is not an integer"))?;
    check_workchain(workchain)?;
    if hash.len() != 64 {
        return Err(bad("hash part must be 64 hex digits"));
    }
    let bytes = hex::decode(hash).map_err(|_| bad("hash part is not hex"))?;
    let hash =
        TonHash::try_from(bytes.as_slice()).map_err(|_| bad("hash part must be 32 bytes"))?;
    Ok(TonAddress::new(workchain, hash))
}

/// Parses the 48-character base64 form; both the URL-safe and the standard
/// alphabet are accepted, since wallets emit either.
pub fn parse_user_friendly(s: &str) -> Result<ParsedAddress> {
    let bad = |reason| Error::AddressFormat {
        input: s.to_owned(),
        reason,
    };
    if s.len() != 48 {
        return Err(bad("user-friendly form is 48 characters"));
    }
    let normalized: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let bytes = STANDARD_NO_PAD
        .decode(normalized)
        .map_err(|_| bad("not base64"))?;
    let bytes: [u8; 36] = bytes
        .try_into()
        .map_err(|_| bad("must decode to 36 bytes"))?;
    let crc = CRC16.checksum(&bytes[..34]);
    if crc.to_be_bytes() != bytes[34..] {
        return Err(Error::AddressChecksum {
            input: s.to_owned(),
        });
    }
    let testnet = bytes[0] & TAG_TESTNET != 0;
    let bounceable = match bytes[0] & !TAG_TESTNET {
        TAG_BOUNCEABLE => true,
        TAG_NON_BOUNCEABLE => false,
        _ => return Err(bad("unknown flags byte")),
    };
    let workchain = bytes[1] as i8 as i32;
    check_workchain(workchain)?;
    let hash = TonHash::try_from(&bytes[2..34]).map_err(|_| bad("hash part must be 32 bytes"))?;
    Ok(ParsedAddress {
        address: TonAddress::new(workchain, hash),
        form: AddressForm::UserFriendly {
            bounceable,
            testnet,
        },
    })
}

/// `workchain:hex`, lower case, as toncenter and explorers print it.
pub fn to_raw(address: &TonAddress) -> String {
    address.to_hex()
}

/// The URL-safe user-friendly form wallets show.
pub fn to_user_friendly(address: &TonAddress, bounceable: bool, testnet: bool) -> String {
    address.to_base64_url_flags(!bounceable, testnet)
}

/// Only the basechain and the masterchain exist; anything else is a typo or an attack.
pub fn check_workchain(workchain: i32) -> Result<()> {
    match workchain {
        0 | -1 => Ok(()),
        other => Err(Error::Workchain(other)),
    }
}
