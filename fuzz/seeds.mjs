// Writes the committed seed corpora in fuzz/corpus/ from the SDK's golden vectors
// (BoCs made by @ton/core) and a few Spindle message bodies built here with
// @ton/core. Run once from the repo root after `npm ci` in sdk/tests/vectors/:
//   node fuzz/seeds.mjs
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const require = createRequire(new URL('../sdk/tests/vectors/package.json', import.meta.url));
const { beginCell, Cell, Address } = require('@ton/core');
const vectors = JSON.parse(readFileSync('sdk/tests/vectors/vectors.json', 'utf8'));

function seed(target, bytes) {
  const dir = `fuzz/corpus/${target}`;
  mkdirSync(dir, { recursive: true });
  const name = createHash('sha1').update(bytes).digest('hex');
  writeFileSync(`${dir}/${name}`, bytes);
}
const boc = (b64) => Buffer.from(b64, 'base64');

// boc: every kind of cell the vectors hold.
for (const b of vectors.bocs) seed('boc', boc(b.boc));
for (const t of vectors.transactions) seed('boc', boc(t.boc));
for (const m of vectors.internal_messages) seed('boc', boc(m.cell));
for (const m of vectors.external_messages) seed('boc', boc(m.cell));
seed('boc', boc(vectors.state_inits[0].state_init));

// spindle_messages: signed payloads (a voucher among them) and the watcher's ops.
for (const p of vectors.payloads.cases) seed('spindle_messages', boc(p.cell));
const addr = Address.parse(vectors.payloads.cases[0].target);
const voucher = Cell.fromBase64(vectors.payloads.cases.find((p) => p.tag === 'vchr').cell);
const body = (op, f) => { const b = beginCell().storeUint(op, 32).storeUint(7, 64); f(b); return b.endCell().toBoc(); };
const cfg = beginCell().storeCoins(1000n).storeUint(250, 16).endCell();
seed('spindle_messages', body(0x4a420001, (b) => b.storeCoins(10n ** 9n).storeUint(1_700_000_000, 32).storeBuffer(Buffer.alloc(32, 7)).storeRef(cfg)));
seed('spindle_messages', body(0x4a420002, (b) => b.storeAddress(addr).storeUint(5000, 64).storeBuffer(Buffer.alloc(32, 9)).storeUint(3, 16)));
seed('spindle_messages', body(0x4a420003, (b) => b.storeBit(false)));
seed('spindle_messages', body(0x4a420003, (b) => b.storeBit(true).storeRef(beginCell().storeAddress(addr))));
seed('spindle_messages', body(0x43410003, (b) => b.storeUint(3, 16).storeRef(voucher)));
seed('spindle_messages', body(0x4341000a, (b) => b.storeCoins(123456789n)));

// toncenter_json: a page of transactions as toncenter's getTransactions prints them.
const tx = (t, lt) => ({
  '@type': 'raw.transaction', utime: 1700000000, data: t.boc,
  transaction_id: { '@type': 'internal.transactionId', lt: String(lt), hash: Buffer.from(t.hash, 'hex').toString('base64') },
  fee: '1234567', storage_fee: '17', other_fee: '1234550',
  in_msg: {
    '@type': 'raw.message', source: addr.toString(), destination: addr.toString(), value: '1000000000',
    fwd_fee: '266669', ihr_fee: '0', created_lt: String(lt - 1), body_hash: '',
    msg_data: { '@type': 'msg.dataRaw', body: voucher.toBoc().toString('base64'), init_state: '' }, message: '',
  },
  out_msgs: [],
});
seed('toncenter_json', Buffer.from(JSON.stringify(vectors.transactions.map((t, i) => tx(t, 1000 * (i + 1))))));
seed('toncenter_json', Buffer.from(JSON.stringify([{ ...tx(vectors.transactions[0], 5), in_msg: undefined }])));

// job_submit: POST /v1/jobs bodies.
const spec = { model: 'smollm2', max_tokens: 8, messages: [{ role: 'user', content: 'hi \u00e9 "q"' }], temperature: 0.5 };
seed('job_submit', Buffer.from(JSON.stringify({ escrow: addr.toRawString(), client: addr.toString(), nonce: 1, spec })));
seed('job_submit', Buffer.from(JSON.stringify({ escrow: addr.toString({ urlSafe: false }), client: addr.toRawString(), nonce: 2, spec: { model: 'm', max_tokens: 4, prompt: 'x', n: 1e3 } })));

// worker_protocol: one message of each kind, both directions.
for (const m of [
  { type: 'hello', operator_key: 'ab'.repeat(32), owner: addr.toRawString(), signature: 'cd'.repeat(64) },
  { type: 'advertise', max_concurrency: 4, models: [{ id: 'm', prices: { prompt: 1, cached_prompt: 0, completion: 2 } }] },
  { type: 'heartbeat' },
  { type: 'chunk', id: 3, data: 'data: {"choices":[{"delta":{"content":"x"}}]}' },
  { type: 'done', id: 3, body: '{"choices":[]}', usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14, cached_tokens: 5 }, result_hash: '11'.repeat(32), signature: 'ee'.repeat(64) },
  { type: 'failed', id: 3, status: 503, message: 'backend down', body: null, started: false },
  { type: 'job_accepted', id: 4, signature: 'ee'.repeat(64) },
  { type: 'job_result', id: 4, body: '{"text":"ok"}', usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14, cached_tokens: 5 }, result_hash: '11'.repeat(32), signature: 'ee'.repeat(64) },
  { type: 'job_failed', id: 4, message: 'declined' },
  { type: 'challenge', relayer: addr.toRawString(), global_id: -239, challenge: '22'.repeat(32) },
  { type: 'welcome', heartbeat_secs: 15 },
  { type: 'request', id: 1, endpoint: 'chat_completions', body: spec, stream: true },
  { type: 'cancel', id: 1 },
  { type: 'job_offer', id: 5, escrow: addr.toRawString(), nonce: 1, deadline: 1700000000, endpoint: 'chat_completions', body: spec },
]) seed('worker_protocol', Buffer.from(JSON.stringify(m)));

