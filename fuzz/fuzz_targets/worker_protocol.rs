//! The worker WebSocket protocol, both directions: what the relayer's worker API reads
//! from workers (hello, results, job results) and what workers read from the relayer.
//!
//! Properties: a message that deserializes serializes to JSON that deserializes to the
//! same JSON value; billing a reported usage at any advertised prices never overflows
//! (debug assertions are on) and never bills less than the completion tokens alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_worker::backend::Usage;
use spindle_worker::protocol::{Prices, RelayerMessage, WorkerMessage};

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(data: &[u8]) {
    let Ok(msg) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let value = serde_json::to_value(&msg).expect("serializes");
    let again: T = serde_json::from_value(value.clone()).expect("our own JSON reads");
    assert_eq!(serde_json::to_value(&again).expect("serializes"), value);
}

fuzz_target!(|data: &[u8]| {
    round_trip::<WorkerMessage>(data);
    round_trip::<RelayerMessage>(data);
    let Ok(msg) = serde_json::from_slice::<WorkerMessage>(data) else {
        return;
    };
    // A final message always names the request it ends.
    if msg.is_final() {
        assert!(msg.id().is_some());
    }
    let max = Prices {
        prompt: u64::MAX,
        cached_prompt: u64::MAX,
        completion: u64::MAX,
    };
    match &msg {
        WorkerMessage::Done { usage, .. } | WorkerMessage::JobResult { usage, .. } => {
            bill(&max, usage);
        }
        WorkerMessage::Advertise { models, .. } => {
            let usage = Usage {
                prompt_tokens: u64::MAX,
                completion_tokens: u64::MAX,
                total_tokens: u64::MAX,
                cached_tokens: u64::MAX / 2,
            };
            for offer in models {
                bill(&offer.prices, &usage);
            }
        }
        _ => {}
    }
});

fn bill(prices: &Prices, usage: &Usage) {
    let completion_only = Usage {
        prompt_tokens: 0,
        cached_tokens: 0,
        ..*usage
    };
    assert!(prices.cost(usage) >= prices.cost(&completion_only));
}
