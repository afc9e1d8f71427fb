//! The user-facing subcommands that talk to a chain: `provider …` and
//! `client …`, with what they share — chain and hub options, amounts,
//! paying from a local key or the user's own wallet, output.

pub mod amount;
pub mod chain;
pub mod client;
pub mod output;
pub mod pay;
pub mod provider;

/// Ends a user command: on error, prints what went wrong (with its causes,
/// without a backtrace — the message says what to do) and exits 1.
pub fn finish(r: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}
