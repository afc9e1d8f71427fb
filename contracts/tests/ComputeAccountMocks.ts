// Test doubles and helpers for the compute_account tests.
//  - mockHubCode: answers get_relayer_set (0x4341000b query_id) with relayer_set (0x4341000c
//    query_id ^RelayerSet) from its data, mode 64; op 1 ^RelayerSet replaces the set (test-only governance).
import fs from 'fs';
import path from 'path';
import { Cell, Transaction } from '@ton/core';
import { compileFunc } from '@ton-community/func-js';

const MOCK_HUB = `
() set_data(cell c) impure asm "c4 POP";
cell get_data() asm "c4 PUSH";
slice begin_parse(cell c) asm "CTOS";
cell preload_ref(slice s) asm "PLDREF";
(slice, cell) load_ref(slice s) asm( -> 1 0) "LDREF";
(slice, slice) load_msg_addr(slice s) asm( -> 1 0) "LDMSGADDR";
int slice_bits(slice s) asm "SBITS";
builder begin_cell() asm "NEWC";
cell end_cell(builder b) asm "ENDC";
builder store_ref(builder b, cell c) asm(c b) "STREF";
builder store_slice(builder b, slice s) asm "STSLICER";
builder store_coins(builder b, int x) asm "STGRAMS";
() send_raw_message(cell msg, int mode) impure asm "SENDRAWMSG";
() recv_internal(int my_balance, int msg_value, cell in_msg_full, slice in_msg_body) impure {
  slice cs = in_msg_full.begin_parse();
  if (cs~load_uint(4) & 1) { return (); }
  slice sender = cs~load_msg_addr();
  if (in_msg_body.slice_bits() < 32) { return (); }
  int op = in_msg_body~load_uint(32);
  if (op == 0x4341000b) {
    int q = in_msg_body~load_uint(64);
    send_raw_message(begin_cell().store_uint(0x18, 6).store_slice(sender).store_coins(0).store_uint(0, 107)
      .store_uint(0x4341000c, 32).store_uint(q, 64).store_ref(get_data().begin_parse().preload_ref()).end_cell(), 64);
    return ();
  }
  if (op == 1) { set_data(begin_cell().store_ref(in_msg_body~load_ref()).end_cell()); return (); }
}
`;

let hub: Cell | undefined;
export async function mockHubCode(): Promise<Cell> {
    if (hub) return hub;
    const r = await compileFunc({ targets: ['mock_hub.fc'], sources: { 'mock_hub.fc': MOCK_HUB } });
    if (r.status === 'error') throw new Error(r.message);
    hub = Cell.fromBase64(r.codeBoc);
    return hub;
}

// ---- artifacts and gas records used by ComputeAccount.spec.ts / Property.spec.ts

/** Code of a contract from build/<name>.json (the committed artifact). */
export function loadCode(name: string): Cell {
    const file = path.join(__dirname, '..', 'build', name + '.json');
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    const b64: string | undefined = j.base64 ?? j.boc ?? j.codeBoc ?? j.code_boc ?? j.code;
    if (b64) return Cell.fromBase64(b64);
    if (j.hex) return Cell.fromBoc(Buffer.from(j.hex, 'hex'))[0];
    throw new Error(`no code in ${file}`);
}

export const gasRecords: Record<string, { gas: number; fees: string }> = {};
/** Gas used by a transaction's compute phase (0 when it was skipped). */
export function computeGas(tx: Transaction): bigint {
    const d = tx.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasUsed : 0n;
}

/** Exit code of a transaction's compute phase; -1 when there is none (no transaction, or skipped). */
export function exitCode(tx?: Transaction): number {
    const d = tx?.description;
    return d && d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.exitCode : -1;
}

/** Records gas used and total fees (nanoTON) of an op, for the gas snapshot. */
export function recordGas(name: string, tx: Transaction, totalFees?: bigint) {
    if (gasRecords[name] && totalFees === undefined) return; // the first measurement of an op is the one kept
    gasRecords[name] = { gas: Number(computeGas(tx)), fees: (totalFees ?? tx.totalFees.coins).toString() };
}

/** Merges the recorded compute_account.* entries into contracts/gas-snapshot.json (other keys kept). */
export function writeGasSnapshot() {
    const file = path.join(__dirname, '..', 'gas-snapshot.json');
    let snap: Record<string, unknown> = {};
    try {
        snap = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
        snap = {};
    }
    for (const [k, v] of Object.entries(gasRecords)) {
        snap[k] = { gas: v.gas, fees_nanoton: v.fees, fees_ton: (Number(v.fees) / 1e9).toFixed(6) };
    }
    const sorted = Object.fromEntries(Object.entries(snap).sort(([a], [b]) => a.localeCompare(b)));
    fs.writeFileSync(file, JSON.stringify(sorted, null, 2) + '\n');
}
