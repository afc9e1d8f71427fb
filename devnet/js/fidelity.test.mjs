// The same message sequence through @ton/sandbox and the devnet must give the
// same gas, fees, exit codes, balances and out messages (see fidelity.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pair, runSequence } from './fidelity.mjs';

test('devnet matches @ton/sandbox transaction for transaction', async () => {
  const p = await pair();
  try {
    const steps = await runSequence(p, { log: (l) => console.log(l) });
    const bad = steps.filter((s) => s.diffs.length);
    assert.deepEqual(bad.map((s) => `${s.name}\n  ${s.diffs.join('\n  ')}`), []);
    assert.ok(steps.length >= 9);
  } finally {
    p.stop();
  }
});
