//! The blockchain configuration the devnet executes under — the one place that
//! holds every config parameter the executor and the TVM read.
//!
//! Values are TON mainnet's, as shipped in `@ton/sandbox` 0.41's default config
//! (the official emulator's snapshot of mainnet), so gas, forwarding and storage
//! fees match what contracts pay on mainnet. The fidelity test
//! (`devnet/js/fidelity.mjs`) runs the same messages through `@ton/sandbox` and
//! the devnet and fails on any difference, which keeps these numbers honest.
//!
//! | param | meaning | value |
//! |---|---|---|
//! | 0, 1 | config / elector address | `55..55`, `33..33` (as in sandbox) |
//! | 5 | burning config: blackhole, burn 1/2 of fees | as mainnet |
//! | 8 | global version 12, capabilities `0x1ee` | as mainnet |
//! | 12 | workchain 0 description (basic, active, accepts messages) | as mainnet |
//! | 18 | storage prices: 1 / 500 per bit / cell per 2^16 s, masterchain 1000 / 500000 | as mainnet |
//! | 19 | global id | [`DEVNET_GLOBAL_ID`] (not mainnet's -239) |
//! | 20, 21 | gas prices: masterchain 10000, basechain 400 nanoton per gas, 1 M gas limit | as mainnet |
//! | 24, 25 | forwarding prices: basechain lump 400000, 26214400 / 2621440000 per bit / cell (×2^-16) | as mainnet |
//! | 31 | fundamental (special) masterchain addresses: the elector only | devnet |
//! | 43 | size limits: absent, so TON's defaults apply (as in sandbox) | defaults |
//!
//! Params that only matter to validators (elections, catchain, validator sets)
//! are left out: no transaction reads them.

use tycho_executor::ParsedConfig;
use tycho_types::models::{
    BlockchainConfig, BurningConfig, GasLimitsPrices, GlobalCapabilities, GlobalVersion,
    MsgForwardPrices, StoragePrices, WorkchainDescription, WorkchainFormat, WorkchainFormatBasic,
};
use tycho_types::prelude::*;

/// The devnet's network id (config param 19, read on-chain with `GETGLOBALID`).
///
/// Mainnet is -239 and testnet -3; the devnet uses its own value so a payload
/// signed for the devnet can never be replayed on a public network and back.
pub const DEVNET_GLOBAL_ID: i32 = -1313;

/// Mainnet's TVM / block format version (param 8).
pub const GLOBAL_VERSION: u32 = 12;
const CAPABILITIES: u64 = 0x1ee;

/// Basechain gas prices (param 21). `gas_price` is nanoton per gas × 2^16.
pub(crate) fn basechain_gas_prices() -> GasLimitsPrices {
    GasLimitsPrices {
        flat_gas_limit: 100,
        flat_gas_price: 40_000,
        gas_price: 400 << 16,
        gas_limit: 1_000_000,
        special_gas_limit: 1_000_000,
        gas_credit: 10_000,
        block_gas_limit: 10_000_000,
        freeze_due_limit: 100_000_000,
        delete_due_limit: 1_000_000_000,
    }
}

/// Masterchain gas prices (param 20).
pub(crate) fn masterchain_gas_prices() -> GasLimitsPrices {
    GasLimitsPrices {
        flat_gas_limit: 100,
        flat_gas_price: 1_000_000,
        gas_price: 10_000 << 16,
        gas_limit: 1_000_000,
        special_gas_limit: 70_000_000,
        gas_credit: 10_000,
        block_gas_limit: 2_500_000,
        freeze_due_limit: 100_000_000,
        delete_due_limit: 1_000_000_000,
    }
}

/// Basechain message forwarding prices (param 25). Bit and cell prices × 2^-16.
pub(crate) fn basechain_fwd_prices() -> MsgForwardPrices {
    MsgForwardPrices {
        lump_price: 400_000,
        bit_price: 26_214_400,
        cell_price: 2_621_440_000,
        ihr_price_factor: 98_304,
        first_frac: 21_845,
        next_frac: 21_845,
    }
}

/// Masterchain message forwarding prices (param 24).
pub(crate) fn masterchain_fwd_prices() -> MsgForwardPrices {
    MsgForwardPrices {
        lump_price: 10_000_000,
        bit_price: 655_360_000,
        cell_price: 65_536_000_000,
        ihr_price_factor: 98_304,
        first_frac: 21_845,
        next_frac: 21_845,
    }
}

/// Storage prices (param 18), in nanoton per bit / cell per 2^16 seconds.
pub(crate) fn storage_prices() -> StoragePrices {
    StoragePrices {
        utime_since: 0,
        bit_price_ps: 1,
        cell_price_ps: 500,
        mc_bit_price_ps: 1000,
        mc_cell_price_ps: 500_000,
    }
}

/// Builds the full blockchain config with the given global id.
pub(crate) fn blockchain_config(global_id: i32) -> anyhow::Result<BlockchainConfig> {
    let mut config = BlockchainConfig::new_empty(HashBytes([0x55; 32]));
    let p = &mut config.params;
    p.set_elector_address(&HashBytes([0x33; 32]))?;
    p.set_burning_config(&BurningConfig {
        blackhole_addr: Some(HashBytes([0xff; 32])),
        fee_burn_num: 1,
        fee_burn_denom: std::num::NonZeroU32::new(2).expect("non-zero"),
    })?;
    p.set_global_version(&GlobalVersion {
        version: GLOBAL_VERSION,
        capabilities: GlobalCapabilities::new(CAPABILITIES),
    })?;
    let mut workchains = Dict::<i32, WorkchainDescription>::new();
    workchains.set(
        0,
        WorkchainDescription {
            enabled_since: 1_573_821_854,
            actual_min_split: 0,
            min_split: 0,
            max_split: 4,
            active: true,
            accept_msgs: true,
            zerostate_root_hash: HashBytes::ZERO,
            zerostate_file_hash: HashBytes::ZERO,
            version: 0,
            format: WorkchainFormat::Basic(WorkchainFormatBasic {
                vm_version: -1,
                vm_mode: 0,
            }),
        },
    )?;
    p.set_workchains(&workchains)?;
    p.set_storage_prices(&[storage_prices()])?;
    p.set_global_id(global_id)?;
    p.set_gas_prices(true, &masterchain_gas_prices())?;
    p.set_gas_prices(false, &basechain_gas_prices())?;
    p.set_msg_forward_prices(true, &masterchain_fwd_prices())?;
    p.set_msg_forward_prices(false, &basechain_fwd_prices())?;
    // Special (fee-free, gas-unlimited) masterchain accounts; none of ours.
    p.set_fundamental_addresses(&[HashBytes([0x33; 32])])?;
    Ok(config)
}

/// The config parsed for the executor. Storage prices start at time 0, so the
/// parse time does not matter.
pub(crate) fn parsed_config(global_id: i32) -> anyhow::Result<ParsedConfig> {
    Ok(ParsedConfig::parse(
        blockchain_config(global_id)?,
        u32::MAX,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_every_param_the_executor_reads() {
        let parsed = parsed_config(DEVNET_GLOBAL_ID).unwrap();
        assert_eq!(parsed.global_id, DEVNET_GLOBAL_ID);
        assert_eq!(parsed.global.version, GLOBAL_VERSION);
        assert_eq!(parsed.gas_prices, basechain_gas_prices());
        assert!(parsed.workchains.contains_key(&0));
    }
}
