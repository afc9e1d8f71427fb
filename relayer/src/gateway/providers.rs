//! Which operator keys may serve: THE seam for the on-chain stake check.
//!
//! A worker's operator key must belong to a provider staked on-chain at or
//! above the hub's minimum (and not unbonding). Until provider_stake and the
//! hub exist, [`ConfiguredProviders`] checks the key and owner against the
//! gateway config's `providers` list; a chain-backed [`ProviderCheck`] will read
//! the provider_stake contract of (hub, owner) instead.

use super::config::AllowedProvider;
use futures::future::BoxFuture;
use spindle_sdk::{TonAddress, VerifyingKey};

/// Decides whether an authenticated (operator key, owner) may serve.
pub trait ProviderCheck: Send + Sync {
    fn check_staked_provider<'a>(
        &'a self,
        operator_key: &'a VerifyingKey,
        owner: &'a TonAddress,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The allow-list from config.
pub struct ConfiguredProviders {
    allowed: Vec<(VerifyingKey, TonAddress)>,
}

impl ConfiguredProviders {
    pub fn from_config(list: &[AllowedProvider]) -> Result<Self, String> {
        let allowed = list
            .iter()
            .map(|p| {
                let key = hex::decode(&p.operator_key)
                    .map_err(|e| format!("providers.operator_key: {e}"))?;
                let key = spindle_sdk::signing::verifying_key(&key)
                    .map_err(|e| format!("providers.operator_key: {e}"))?;
                let owner = spindle_sdk::address::parse_address(&p.owner)
                    .map_err(|e| format!("providers.owner: {e}"))?;
                Ok((key, owner))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { allowed })
    }
}

impl ProviderCheck for ConfiguredProviders {
    fn check_staked_provider<'a>(
        &'a self,
        operator_key: &'a VerifyingKey,
        owner: &'a TonAddress,
    ) -> BoxFuture<'a, Result<(), String>> {
        let found = self
            .allowed
            .iter()
            .any(|(k, o)| k == operator_key && o == owner);
        Box::pin(async move {
            if found {
                Ok(())
            } else {
                Err("operator key and owner are not an allowed provider".into())
            }
        })
    }
}
