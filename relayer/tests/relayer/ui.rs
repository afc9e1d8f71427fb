//! The dashboard's JSON views over a real store (both backends), without a browser or
//! a chain: the aggregates behind the network, money and health panels, a job's
//! signatures, and bad input answered as 4xx problem+json that changes nothing.

use std::sync::Arc;

use serde_json::Value;
use spindle_relayer::Store;
use spindle_relayer::job::JobState;
use spindle_relayer::store::{JobEarnings, ProofSignature, WorkerOutcome};
use spindle_relayer::ui::{NetworkInfo, Ui};

use crate::common::{TestDb, both_backends};
use crate::fixtures::{escrow, h, job, sig};
use crate::jobs::{acceptance, proof, result};

/// Serves the `/ui` routes over `store`; returns the base URL.
async fn serve(store: Store) -> String {
    let ui = Arc::new(Ui {
        store,
        info: NetworkInfo {
            network: "devnet".into(),
            k: 2,
            n: 3,
            ..NetworkInfo::default()
        },
        gateway: None,
        health: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/ui/api", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, ui.router()).await });
    base
}

async fn get(url: &str) -> (u16, String, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ctype, r.json().await.unwrap())
}

/// Job 1 settled after a lease at +10 s, job 2 expired after a lease at +15 s (both by
/// worker "wa"), job 3 only funded.
async fn three_jobs(s: &Store) {
    s.insert_job(&job(1, 10_000), 100).await.unwrap();
    let lease = s
        .claim_job(&escrow(1), "wa", 110, 60)
        .await
        .unwrap()
        .unwrap();
    s.record_acceptance(&lease, &acceptance(1), 111)
        .await
        .unwrap();
    s.store_result(&lease, &result(1), 112).await.unwrap();
    s.commit_job_signature(&proof(1, 1), &sig(1), 113)
        .await
        .unwrap();
    s.add_proof_signature(
        &ProofSignature {
            escrow: escrow(1),
            payload_hash: h(701),
            signer_index: 2,
            signer_pubkey: h(9),
            signature: sig(77),
        },
        114,
    )
    .await
    .unwrap();
    s.transition_job(&escrow(1), JobState::Settled, 120)
        .await
        .unwrap();

    s.insert_job(&job(2, 10_000), 120).await.unwrap();
    s.claim_job(&escrow(2), "wa", 135, 60)
        .await
        .unwrap()
        .unwrap();
    s.transition_job(&escrow(2), JobState::Expired, 140)
        .await
        .unwrap();

    s.insert_job(&job(3, 10_000), 150).await.unwrap();
}

async fn aggregates_count_what_the_store_holds(db: TestDb) {
    let s = db.store();
    three_jobs(s).await;
    assert_eq!(
        s.worker_outcomes().await.unwrap(),
        vec![
            WorkerOutcome {
                worker: "wa".into(),
                state: "expired".into(),
                jobs: 1
            },
            WorkerOutcome {
                worker: "wa".into(),
                state: "settled".into(),
                jobs: 1
            },
        ]
    );
    // Only the settled job's pay counts as earned.
    assert_eq!(
        s.job_earnings().await.unwrap(),
        vec![JobEarnings {
            provider: "0:provider".into(),
            jobs: 1,
            paid: 400_000_000
        }]
    );
    // Newest leased job first; the unleased job has no latency.
    assert_eq!(s.lease_latencies(10).await.unwrap(), vec![15, 10]);
    assert_eq!(s.lease_latencies(1).await.unwrap(), vec![15]);
    assert!(s.vouchers().await.unwrap().is_empty());

    let t = s.job_timeline(&escrow(1)).await.unwrap().unwrap();
    let kinds: Vec<_> = t.signatures.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, ["acceptance", "result", "own_proof", "proof"]);
    assert_eq!(t.signatures[0].signature, hex::encode(sig(1)));
    assert_eq!(t.signatures[1].signature, hex::encode(sig(901)));
    assert_eq!(t.signatures[2].signature, hex::encode(sig(1)));
    assert_eq!(t.signatures[3].signer, "relayer #2");
    assert_eq!(
        t.signatures[3].payload_hash.as_deref(),
        Some(hex::encode(h(701)).as_str())
    );
}

async fn views_answer_and_refuse_bad_input(db: TestDb) {
    let s = db.store();
    three_jobs(s).await;
    let base = serve(s.clone()).await;

    for bad in ["0", "91", "abc", "-1", "1.5"] {
        let (status, ctype, body) = get(&format!("{base}/money?days={bad}")).await;
        assert_eq!(status, 400, "days={bad}: {body}");
        assert_eq!(ctype, "application/problem+json");
        assert!(
            body["type"].as_str().unwrap().ends_with("bad-days"),
            "{body}"
        );
    }
    let (status, _, money) = get(&format!("{base}/money?days=7")).await;
    assert_eq!(status, 200, "{money}");
    assert_eq!(money["days"], 7);
    assert_eq!(money["providers"][0]["provider"], "0:provider");
    assert_eq!(money["providers"][0]["jobs_settled"], 1);
    assert_eq!(money["providers"][0]["jobs_paid"], "400000000");
    assert_eq!(money["protocol_fees"]["jobs_paid"], "400000000");
    // Without a chain the chain-side figures say so instead of guessing.
    assert_eq!(money["protocol_fees"]["fees"], Value::Null);
    assert!(money["relayer_fees"]["error"].is_string(), "{money}");

    let (status, _, net) = get(&format!("{base}/network")).await;
    assert_eq!(status, 200, "{net}");
    assert!(net["hub"]["error"].is_string(), "{net}");
    assert_eq!(net["relayers"]["k"], 2);
    assert_eq!(net["providers"][0]["owner"], "0:provider");

    let (status, _, over) = get(&format!("{base}/overview")).await;
    assert_eq!(status, 200, "{over}");
    assert_eq!(over["lease_latency"]["samples"], 2);
    assert_eq!(over["lease_latency"]["mean_secs"], 12.5);
    assert_eq!(over["lease_latency"]["max_secs"], 15);

    // A dashboard without the node's sampler has no history (the page charts its polls).
    let (status, _, h) = get(&format!("{base}/history")).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["samples"], serde_json::json!([]));

    let (status, _, t) = get(&format!("{base}/jobs/{}", escrow(1))).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["job"]["state"], "settled");
    assert_eq!(t["signatures"].as_array().unwrap().len(), 4);
    assert_eq!(t["transactions"], Value::Null);

    for (path, status, name) in [
        ("jobs?state=nope", 400, "unknown-job-state"),
        ("jobs?limit=0", 400, "bad-limit"),
        ("jobs?limit=many", 400, "bad-limit"),
        ("jobs/not-an-address", 400, "bad-address"),
        (&format!("jobs/0:{}", "ab".repeat(32)), 404, "unknown-job"),
    ] {
        let (got, ctype, body) = get(&format!("{base}/{path}")).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(ctype, "application/problem+json", "{path}");
        assert!(body["type"].as_str().unwrap().ends_with(name), "{body}");
    }
    // Reading changed nothing.
    assert_eq!(
        s.job(&escrow(3)).await.unwrap().unwrap().state,
        JobState::Funded
    );
}

both_backends!(
    aggregates_count_what_the_store_holds,
    views_answer_and_refuse_bad_input,
);
