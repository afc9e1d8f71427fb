//! The connected workers, their offers and free capacity, and the fair queue
//! in front of them.
//!
//! A request takes a [`Slot`] on the cheapest worker offering its model with
//! capacity to spare; dropping the slot gives the capacity back. When every
//! eligible worker is busy, requests wait in a queue per account, served
//! round-robin: the account just served goes to the back, so one client
//! flooding the gateway delays only its own requests.

use spindle_sdk::{TonAddress, VerifyingKey};
use spindle_worker::protocol::{ModelOffer, Prices, RelayerMessage, WorkerMessage};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One connected, authenticated worker.
pub struct WorkerLink {
    pub id: u64,
    pub operator_key: VerifyingKey,
    pub owner: TonAddress,
    pub(crate) tx: mpsc::UnboundedSender<RelayerMessage>,
    /// Requests in flight on this worker: where its messages about each go.
    pub(crate) pending: Mutex<HashMap<u64, mpsc::UnboundedSender<WorkerMessage>>>,
}

impl WorkerLink {
    /// Sends a request and returns the channel its chunks and result arrive on
    /// (closed if the worker disconnects).
    pub(crate) fn start(
        &self,
        id: u64,
        request: RelayerMessage,
    ) -> mpsc::UnboundedReceiver<WorkerMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.pending.lock().unwrap().insert(id, tx);
        // A closed connection drops the pending senders, which `rx` reports.
        let _ = self.tx.send(request);
        rx
    }

    /// Stops listening for a request; tells the worker to stop it if `cancel`.
    pub(crate) fn finish(&self, id: u64, cancel: bool) {
        let was_pending = self.pending.lock().unwrap().remove(&id).is_some();
        if cancel && was_pending {
            let _ = self.tx.send(RelayerMessage::Cancel { id });
        }
    }

    /// Routes a worker's message about a request to whoever waits for it.
    pub(crate) fn deliver(&self, id: u64, message: WorkerMessage) {
        let last = message.is_final();
        let mut pending = self.pending.lock().unwrap();
        if let Some(tx) = pending.get(&id) {
            let _ = tx.send(message);
            if last {
                pending.remove(&id);
            }
        }
    }
}

struct WorkerState {
    link: Arc<WorkerLink>,
    max_concurrency: u32,
    models: Vec<ModelOffer>,
    in_flight: u32,
}

impl WorkerState {
    fn offer(&self, model: &str) -> Option<Prices> {
        self.models.iter().find(|o| o.id == model).map(|o| o.prices)
    }
}

struct Waiter {
    model: String,
    exclude: Vec<u64>,
    tx: oneshot::Sender<Slot>,
}

#[derive(Default)]
struct State {
    workers: HashMap<u64, WorkerState>,
    /// Every model ever advertised here: asking for one of these while no
    /// worker offers it is 503 (come back later), not 404.
    known: BTreeSet<String>,
    /// Accounts with waiting requests, in round-robin order.
    queue: VecDeque<(TonAddress, VecDeque<Waiter>)>,
}

/// Why no slot was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// No worker has ever offered the model.
    UnknownModel,
    /// No worker offers it now (all gone, withdrawn or already tried).
    Unavailable,
    /// Workers offer it but stayed busy for the whole queue timeout.
    Busy,
}

/// A model as `GET /v1/models` lists it.
#[derive(Debug, Clone)]
pub struct ServedModel {
    pub id: String,
    /// The cheapest worker's prices.
    pub prices: Prices,
    pub workers: usize,
    pub capacity: u32,
}

/// One connected worker as the dashboard lists it (see [`Pool::workers`]).
#[derive(Debug, Clone)]
pub struct WorkerView {
    pub id: u64,
    pub owner: TonAddress,
    pub operator_key: VerifyingKey,
    pub models: Vec<ModelOffer>,
    pub max_concurrency: u32,
    pub in_flight: u32,
}

/// A snapshot of the pool (see [`Pool::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Authenticated worker connections.
    pub workers: usize,
    /// Those currently offering at least one model (the others withdrew).
    pub offering: usize,
    /// Requests the offering workers can serve at once.
    pub capacity: u64,
    pub in_flight: u64,
}

#[derive(Default)]
pub struct Pool {
    state: Mutex<State>,
}

/// Capacity held on one worker for one request; given back on drop.
pub struct Slot {
    pool: Option<Arc<Pool>>,
    pub link: Arc<WorkerLink>,
    /// The worker's prices for the model when the slot was taken: what the
    /// request is charged at.
    pub prices: Prices,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let mut state = pool.state.lock().unwrap();
            if let Some(w) = state.workers.get_mut(&self.link.id) {
                w.in_flight = w.in_flight.saturating_sub(1);
            }
            Pool::dispatch(&pool, &mut state);
        }
    }
}

impl Pool {
    pub fn add(self: &Arc<Self>, link: Arc<WorkerLink>) {
        let mut state = self.state.lock().unwrap();
        state.workers.insert(
            link.id,
            WorkerState {
                link,
                max_concurrency: 0,
                models: Vec::new(),
                in_flight: 0,
            },
        );
    }

    /// A worker's new offer; no models withdraws it without disconnecting.
    pub fn advertise(self: &Arc<Self>, id: u64, max_concurrency: u32, models: Vec<ModelOffer>) {
        let mut state = self.state.lock().unwrap();
        for m in &models {
            state.known.insert(m.id.clone());
        }
        if let Some(w) = state.workers.get_mut(&id) {
            w.max_concurrency = max_concurrency;
            w.models = models;
        }
        Self::dispatch(self, &mut state);
    }

    /// The worker disconnected: its capacity is gone and its requests fail.
    pub fn remove(self: &Arc<Self>, id: u64) {
        let mut state = self.state.lock().unwrap();
        if let Some(w) = state.workers.remove(&id) {
            w.link.pending.lock().unwrap().clear();
        }
        Self::dispatch(self, &mut state);
    }

    pub fn is_known(&self, model: &str) -> bool {
        self.state.lock().unwrap().known.contains(model)
    }

    /// The highest prices any worker posts for `model`: the worst case a
    /// request can be charged, whichever worker serves it.
    pub fn max_prices(&self, model: &str) -> Option<Prices> {
        let state = self.state.lock().unwrap();
        state
            .workers
            .values()
            .filter_map(|w| w.offer(model))
            .reduce(|a, b| Prices {
                prompt: a.prompt.max(b.prompt),
                cached_prompt: a.cached_prompt.max(b.cached_prompt),
                completion: a.completion.max(b.completion),
            })
    }

    /// Every connected worker offering `model`, with its prices (for callers that
    /// must exclude some before [`acquire`](Self::acquire), e.g. over a job's budget).
    pub fn offers(&self, model: &str) -> Vec<(u64, Prices)> {
        let state = self.state.lock().unwrap();
        state
            .workers
            .iter()
            .filter_map(|(id, w)| w.offer(model).map(|p| (*id, p)))
            .collect()
    }

    /// Connected workers, the capacity of those offering a model, and requests in
    /// flight: for `/metrics`.
    pub fn stats(&self) -> PoolStats {
        let state = self.state.lock().unwrap();
        let mut stats = PoolStats {
            workers: state.workers.len(),
            ..PoolStats::default()
        };
        for w in state.workers.values() {
            if !w.models.is_empty() {
                stats.offering += 1;
                stats.capacity += u64::from(w.max_concurrency);
            }
            stats.in_flight += u64::from(w.in_flight);
        }
        stats
    }

    /// Every connected worker, by connection id.
    pub fn workers(&self) -> Vec<WorkerView> {
        let state = self.state.lock().unwrap();
        let mut out: Vec<WorkerView> = state
            .workers
            .values()
            .map(|w| WorkerView {
                id: w.link.id,
                owner: w.link.owner.clone(),
                operator_key: w.link.operator_key,
                models: w.models.clone(),
                max_concurrency: w.max_concurrency,
                in_flight: w.in_flight,
            })
            .collect();
        out.sort_by_key(|w| w.id);
        out
    }

    pub fn served_models(&self) -> Vec<ServedModel> {
        let state = self.state.lock().unwrap();
        let mut out: Vec<ServedModel> = Vec::new();
        for w in state.workers.values() {
            for o in &w.models {
                match out.iter_mut().find(|m| m.id == o.id) {
                    Some(m) => {
                        m.workers += 1;
                        m.capacity += w.max_concurrency;
                        if rank(&o.prices) < rank(&m.prices) {
                            m.prices = o.prices;
                        }
                    }
                    None => out.push(ServedModel {
                        id: o.id.clone(),
                        prices: o.prices,
                        workers: 1,
                        capacity: w.max_concurrency,
                    }),
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Waits (fairly, up to `timeout`) for a slot on the cheapest eligible worker.
    pub async fn acquire(
        self: &Arc<Self>,
        account: &TonAddress,
        model: &str,
        exclude: &[u64],
        timeout: Duration,
    ) -> Result<Slot, NoSlot> {
        let rx = {
            let mut state = self.state.lock().unwrap();
            if !state.known.contains(model) {
                return Err(NoSlot::UnknownModel);
            }
            if !servable(&state, model, exclude) {
                return Err(NoSlot::Unavailable);
            }
            let (tx, rx) = oneshot::channel();
            let waiter = Waiter {
                model: model.to_owned(),
                exclude: exclude.to_vec(),
                tx,
            };
            match state.queue.iter_mut().find(|(a, _)| a == account) {
                Some((_, waiters)) => waiters.push_back(waiter),
                None => state
                    .queue
                    .push_back((account.clone(), VecDeque::from([waiter]))),
            }
            Self::dispatch(self, &mut state);
            rx
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(slot)) => Ok(slot),
            // Dropped from the queue: nobody offers the model any more.
            Ok(Err(_)) => Err(NoSlot::Unavailable),
            Err(_) => Err(NoSlot::Busy),
        }
    }

    /// Hands free capacity to waiting requests, one account at a time in turn.
    fn dispatch(pool: &Arc<Pool>, state: &mut State) {
        loop {
            let State { workers, queue, .. } = &mut *state;
            // Forget waiters whose client left or whose model nobody offers.
            for (_, waiters) in queue.iter_mut() {
                waiters.retain(|w| {
                    !w.tx.is_closed()
                        && workers
                            .iter()
                            .any(|(id, s)| !w.exclude.contains(id) && s.offer(&w.model).is_some())
                });
            }
            queue.retain(|(_, waiters)| !waiters.is_empty());
            let mut served = None;
            'accounts: for (i, (_, waiters)) in queue.iter().enumerate() {
                for (j, w) in waiters.iter().enumerate() {
                    if let Some(id) = cheapest_free(workers, &w.model, &w.exclude) {
                        served = Some((i, j, id));
                        break 'accounts;
                    }
                }
            }
            let Some((i, j, id)) = served else { return };
            let (account, mut waiters) = queue.remove(i).expect("index from iteration");
            let waiter = waiters.remove(j).expect("index from iteration");
            if !waiters.is_empty() {
                queue.push_back((account, waiters));
            }
            let worker = workers.get_mut(&id).expect("chosen from workers");
            let prices = worker.offer(&waiter.model).expect("chosen for its offer");
            worker.in_flight += 1;
            let slot = Slot {
                pool: Some(pool.clone()),
                link: worker.link.clone(),
                prices,
            };
            if let Err(mut slot) = waiter.tx.send(slot) {
                // The client left between the check and now: undo, without
                // the Drop that would re-lock the pool.
                slot.pool = None;
                worker.in_flight -= 1;
            }
        }
    }
}

fn servable(state: &State, model: &str, exclude: &[u64]) -> bool {
    state
        .workers
        .iter()
        .any(|(id, w)| !exclude.contains(id) && w.max_concurrency > 0 && w.offer(model).is_some())
}

fn cheapest_free(workers: &HashMap<u64, WorkerState>, model: &str, exclude: &[u64]) -> Option<u64> {
    workers
        .iter()
        .filter(|(id, w)| !exclude.contains(id) && w.in_flight < w.max_concurrency)
        .filter_map(|(id, w)| w.offer(model).map(|p| (rank(&p), *id)))
        .min()
        .map(|(_, id)| id)
}

/// Orders offers by price: a typical request's cost (1,000 prompt tokens, 250
/// generated), unrounded so that cheap prices still compare.
fn rank(p: &Prices) -> u128 {
    p.prompt as u128 * 1000 + p.completion as u128 * 250
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICES: Prices = Prices {
        prompt: 1,
        cached_prompt: 1,
        completion: 1,
    };

    fn worker(pool: &Arc<Pool>, id: u64, concurrency: u32, prices: Prices) -> Arc<WorkerLink> {
        let (tx, _rx) = mpsc::unbounded_channel();
        let link = Arc::new(WorkerLink {
            id,
            operator_key: spindle_sdk::SigningKey::from_bytes(&[id as u8; 32]).verifying_key(),
            owner: TonAddress::new(0, [0; 32].into()),
            tx,
            pending: Default::default(),
        });
        pool.add(link.clone());
        pool.advertise(
            id,
            concurrency,
            vec![ModelOffer {
                id: "m".into(),
                prices,
            }],
        );
        link
    }

    fn account(n: u8) -> TonAddress {
        TonAddress::new(0, [n; 32].into())
    }

    #[tokio::test]
    async fn workers_lists_each_connection_with_its_offer_and_load() {
        let pool = Arc::new(Pool::default());
        worker(&pool, 2, 3, PRICES);
        worker(&pool, 1, 1, PRICES);
        let _slot = pool
            .acquire(&account(1), "m", &[1], Duration::from_secs(1))
            .await
            .unwrap();
        let list = pool.workers();
        let summary: Vec<_> = list
            .iter()
            .map(|w| (w.id, w.max_concurrency, w.in_flight, w.models.len()))
            .collect();
        assert_eq!(summary, [(1, 1, 0, 1), (2, 3, 1, 1)]);
        assert_eq!(list[1].models[0].id, "m");
        pool.remove(1);
        assert_eq!(pool.workers().len(), 1);
    }

    #[tokio::test]
    async fn a_flooding_account_does_not_starve_another() {
        let pool = Arc::new(Pool::default());
        worker(&pool, 1, 1, PRICES);
        let long = Duration::from_secs(10);
        let busy = pool.acquire(&account(9), "m", &[], long).await.unwrap();
        // Account A queues five requests, then B one; they are served one at a time.
        let (order_tx, mut order) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (who, n) in [(1u8, 5), (2u8, 1)] {
            for _ in 0..n {
                let (pool, order_tx) = (pool.clone(), order_tx.clone());
                tasks.push(tokio::spawn(async move {
                    let slot = pool.acquire(&account(who), "m", &[], long).await.unwrap();
                    order_tx.send(who).unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    drop(slot);
                }));
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(busy);
        for t in tasks {
            t.await.unwrap();
        }
        let mut served = Vec::new();
        while let Ok(who) = order.try_recv() {
            served.push(who);
        }
        assert_eq!(served, [1, 2, 1, 1, 1, 1], "B is served second, not sixth");
    }

    #[tokio::test]
    async fn the_cheapest_free_worker_is_chosen_and_capacity_is_returned() {
        let pool = Arc::new(Pool::default());
        let dear = Prices {
            prompt: 10,
            cached_prompt: 10,
            completion: 10,
        };
        worker(&pool, 1, 1, dear);
        worker(&pool, 2, 1, PRICES);
        let t = Duration::from_millis(50);
        let a = pool.acquire(&account(1), "m", &[], t).await.unwrap();
        assert_eq!((a.link.id, a.prices), (2, PRICES));
        let b = pool.acquire(&account(1), "m", &[], t).await.unwrap();
        assert_eq!(b.link.id, 1, "the cheap one is busy");
        assert_eq!(
            pool.acquire(&account(1), "m", &[], t).await.err(),
            Some(NoSlot::Busy)
        );
        drop(a);
        assert_eq!(
            pool.acquire(&account(1), "m", &[], t)
                .await
                .unwrap()
                .link
                .id,
            2
        );
        assert_eq!(
            pool.acquire(&account(1), "x", &[], t).await.err(),
            Some(NoSlot::UnknownModel)
        );
        assert_eq!(
            pool.acquire(&account(1), "m", &[1, 2], t).await.err(),
            Some(NoSlot::Unavailable)
        );
        pool.advertise(2, 1, Vec::new());
        pool.remove(1);
        assert_eq!(
            pool.acquire(&account(1), "m", &[], t).await.err(),
            Some(NoSlot::Unavailable),
            "withdrawn and gone"
        );
        assert!(pool.is_known("m"));
        drop(b);
    }
}
