//! Errors, each mapped to the HTTP status and message toncenter gives for the
//! same mistake (`{"ok":false,"error":…,"code":…}`).

use tycho_types::models::StdAddr;

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// A request parameter is missing or malformed (toncenter: 422).
    #[error("{0}")]
    Invalid(String),
    /// The BoC does not decode (toncenter forwards the liteserver's error: 500).
    #[error("LITE_SERVER_UNKNOWN: cannot deserialize bag-of-cells: {0}")]
    BadBoc(String),
    /// The BoC decodes but is not a message we can send (500).
    #[error("LITE_SERVER_UNKNOWN: {0}")]
    BadMessage(String),
    /// The destination contract would not accept the external message: bad
    /// signature, wrong seqno, expired, missing account… (500, as liteservers
    /// report it through toncenter).
    #[error(
        "LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted\nCannot run message on account: inbound external message rejected by transaction {}:\nexitcode={}, steps=0, gas_used={}",
        hex::encode_upper(address.address.as_slice()),
        exit_code.map(|c| c.to_string()).unwrap_or_else(|| "none (no code)".into()),
        gas_used
    )]
    Rejected {
        address: StdAddr,
        exit_code: Option<i32>,
        gas_used: u64,
    },
    /// Nothing matches (404).
    #[error("{0}")]
    NotFound(String),
    /// A devnet-side failure (500).
    #[error("{0}")]
    Internal(String),
}

impl DevnetError {
    /// The HTTP status toncenter uses for this error.
    pub fn http_code(&self) -> u16 {
        match self {
            Self::Invalid(_) => 422,
            Self::NotFound(_) => 404,
            Self::BadBoc(_) | Self::BadMessage(_) | Self::Rejected { .. } | Self::Internal(_) => {
                500
            }
        }
    }
}

impl From<anyhow::Error> for DevnetError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(format!("{e:#}"))
    }
}

impl From<tycho_types::error::Error> for DevnetError {
    fn from(e: tycho_types::error::Error) -> Self {
        Self::Internal(e.to_string())
    }
}
