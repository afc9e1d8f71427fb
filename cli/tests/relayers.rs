//! Paid escrow jobs through three relayers (k = 2), end to end. The provider
//! stakes and the client funds escrows with the real `spindle` commands; three
//! relayers, each with its own key, SQLite store and wallet, serve the hub's
//! relayer set; a real worker in front of a real llama-server dials all three.
//! The client submits each spec to the job's coordinator, whose scheduler leases
//! it to the worker; the worker accepts and returns a signed result; the
//! coordinator collects a peer's signature and posts `complete`, which pays the
//! provider's stake its price for the tokens (less the protocol fee), the
//! treasury the fee and the client the rest.
//!
//! - `escrow_job_settles_through_three_relayer_nodes`: the relayers are `Node`s in
//!   this process (what `spindle relayer run` starts); every node's watcher then
//!   sees the escrow settled, and the coordinator's dashboard (headless Chromium)
//!   lists the job when submitted and shows its settled timeline.
//!
//! The crash test, which SIGKILLs `spindle relayer run` and `spindle worker run`
//! processes under load, is `kill.rs`.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::time::Duration;

use cluster::{Cluster, JOB_AMOUNT, submit, wait_for};
use spindle_relayer::job::JobState;
use spindle_relayer::node::Node;
use spindle_relayer::settle::job_signer::coordinator;
use spindle_relayer::ui::browser::Browser;
use spindle_sdk::address;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn escrow_job_settles_through_three_relayer_nodes() {
    let c = Cluster::start().await;
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(Node::start(c.config(i)).await.unwrap());
    }
    c.start_worker();
    for node in &nodes {
        let pool = node.parts.gateway.pool.clone();
        wait_for("the worker to connect", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move { !pool.served_models().is_empty() }
        })
        .await;
    }
    let earned_before = c.earned().await;
    let (escrow, body) = c.create_job(1).await;
    let escrow_raw = address::to_raw(&escrow);
    let client = c.env.payer(0).unwrap().address;
    let client_before = c.env.balance(&client).await;

    // Submitted to the job's coordinator, which leases it to the worker; settled
    // on-chain by 2 of the 3 relayers.
    let k = coordinator(&escrow_raw, 0, 3);
    let http = reqwest::Client::new();
    submit(&http, &c.url(k), &body).await;
    // The coordinator's dashboard lists the job as soon as it is submitted.
    let browser = Browser::new(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots"),
    );
    let jobs_page = format!("{}/ui#/jobs", c.url(k));
    let dom = tokio::task::block_in_place(|| browser.dom(&jobs_page));
    assert!(
        dom.contains(&escrow_raw),
        "the jobs page lists the job:\n{dom}"
    );
    c.wait_completed(&escrow, Duration::from_secs(240)).await;

    // The coordinator stored the worker's result; the stake got its price less the fee.
    let (_, result) = nodes[k]
        .parts
        .store
        .latest_result(&escrow_raw)
        .await
        .unwrap()
        .expect("a stored result");
    // The client reads it with `spindle client job result`, signed with its key;
    // another wallet's key is refused, and so is a relayer that never had the job.
    let read = c
        .env
        .run(&[
            "client",
            "job",
            "result",
            &escrow_raw,
            "--relayer",
            &c.url(k),
            "--key-file",
            &c.env.key_file(0),
            "--json",
        ])
        .await
        .json();
    assert_eq!(
        read["result"].as_str().unwrap().as_bytes(),
        &result.body[..]
    );
    assert_eq!(read["result_hash"], hex::encode(result.result_hash));
    assert_eq!(read["completion_tokens"], result.usage.output_tokens);
    c.env
        .run(&[
            "client",
            "job",
            "result",
            &escrow_raw,
            "--relayer",
            &c.url(k),
            "--key-file",
            &c.env.key_file(1),
        ])
        .await
        .fails_with("only the job's client can read its result");
    let other = (k + 1) % 3;
    if nodes[other]
        .parts
        .store
        .job(&escrow_raw)
        .await
        .unwrap()
        .is_none()
    {
        c.env
            .run(&[
                "client",
                "job",
                "result",
                &escrow_raw,
                "--relayer",
                &c.url(other),
                "--key-file",
                &c.env.key_file(0),
            ])
            .await
            .fails_with("was submitted here");
    }
    let expected = c.earned_for(result.usage.input_tokens, result.usage.output_tokens);
    assert!(expected > 0, "the job used tokens");
    assert_eq!(
        c.earned().await - earned_before,
        expected,
        "the stake is credited the price less the fee (and its payout gas)"
    );
    // The client got back the rest of the job's amount (and the unspent margins).
    let client_after = c.env.balance(&client).await;
    assert!(
        client_after >= client_before + JOB_AMOUNT / 2,
        "client refunded the unspent amount: {client_before} -> {client_after}"
    );
    // Every node's watcher sees the escrow settled, whoever posted; the coordinator
    // and the peer that signed had the job, the third may never have heard of it.
    for (i, node) in nodes.iter().enumerate() {
        let store = node.parts.store.clone();
        let escrow_raw = escrow_raw.clone();
        wait_for(
            &format!("relayer {i} to see the settlement"),
            Duration::from_secs(60),
            || {
                let store = store.clone();
                let escrow_raw = escrow_raw.clone();
                async move {
                    match store.job(&escrow_raw).await {
                        Ok(Some(j)) => j.state == JobState::Settled,
                        Ok(None) => i != k,
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
    }
    // Its page then shows the whole timeline, settled, with the amount the chain holds.
    let job_page = format!("{}/ui#/job/{escrow_raw}", c.url(k));
    let dom = tokio::task::block_in_place(|| browser.dom(&job_page));
    for text in [
        "settled", "leased", "accepted", "result", "signed", "0.5 TON",
    ] {
        assert!(dom.contains(text), "the job page lacks {text:?}:\n{dom}");
    }
    tokio::task::block_in_place(|| {
        browser.screenshot(&jobs_page, "jobs-live");
        browser.screenshot(&job_page, "job-timeline");
    });
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
