//! The stock `openai` Python client (installed by
//! scripts/test.d/45-openai-client.sh) drives the gateway, streaming included,
//! and sees what llama-server answers directly.

use crate::harness::*;
use serde_json::{Value, json};
use std::path::Path;

/// The venv's python: `SPINDLE_OPENAI_PYTHON`, else target/spindle-openai.env.
fn python() -> String {
    if let Ok(p) = std::env::var("SPINDLE_OPENAI_PYTHON") {
        return p;
    }
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/spindle-openai.env");
    let text = std::fs::read_to_string(&env).unwrap_or_else(|_| {
        panic!("{} is missing: run scripts/test.d/45-openai-client.sh (or `scripts/test openai`) first", env.display())
    });
    text.lines()
        .find_map(|l| l.strip_prefix("SPINDLE_OPENAI_PYTHON="))
        .expect("SPINDLE_OPENAI_PYTHON in the env file")
        .to_owned()
}

#[tokio::test]
async fn the_stock_openai_python_client_works_streaming_included() {
    let s = setup().await;
    let model = s.llama.alias().to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gateway/openai_client.py");
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .env("SPINDLE_BASE", &s.relayer.url)
        .env("SPINDLE_KEY", KEY)
        .env("SPINDLE_MODEL_ID", &model)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "openai client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();

    // What llama-server answers directly to the same requests.
    let direct = s.llama.base_url();
    let chat = chat_body(&model, "Name a colour.", 12);
    let (_, _, want_chat) = post(&direct, "/v1/chat/completions", None, &chat).await;
    let want_chat: Value = serde_json::from_str(&want_chat).unwrap();
    let completion = json!({"model": model, "prompt": "The sky is", "max_tokens": 8, "temperature": 0, "cache_prompt": false});
    let (_, _, want_completion) = post(&direct, "/v1/completions", None, &completion).await;
    let want_completion: Value = serde_json::from_str(&want_completion).unwrap();

    assert_eq!(seen["models"], json!([model]));
    assert_eq!(seen["chat"], want_chat["choices"][0]["message"]["content"]);
    assert_eq!(
        seen["stream"], want_chat["choices"][0]["message"]["content"],
        "streamed text equals the whole answer"
    );
    assert!(seen["stream_chunks"].as_u64().unwrap() > 3);
    for usage in [&seen["chat_usage"], &seen["stream_usage"]] {
        for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert_eq!(usage[k], want_chat["usage"][k], "{k}: {usage}");
        }
        assert!(
            usage["cost_nanoton"].as_u64().unwrap() > 0,
            "the client sees the cost: {usage}"
        );
    }
    assert_eq!(seen["completion"], want_completion["choices"][0]["text"]);
    assert!(seen["embedding_len"].as_u64().unwrap() > 100);
    assert_eq!(seen["bad_key"], 401);
    assert_eq!(seen["unknown_model"], 404);
}
