// Compares the gas snapshot the sandbox suites just wrote with a saved copy
// (the committed one): prints every operation whose gas or fees changed, and
// exits 1 when any did and GAS_STRICT=1 (CI), so a gas change lands only with
// its snapshot committed — reviewed like code, as in tolk-bench.
//   node scripts/gas-diff.js BEFORE.json gas-snapshot.json
const fs = require('fs');
const [before, after] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
let changed = 0;
for (const k of keys) {
    const b = before[k], a = after[k];
    if (!b || !a) {
        console.log(`gas: ${k} ${b ? 'removed' : 'added'} (${JSON.stringify(a ?? b)})`);
        changed++;
    } else if (b.gas !== a.gas || b.fees_nanoton !== a.fees_nanoton) {
        const pct = ((a.gas - b.gas) / b.gas * 100).toFixed(1);
        console.log(`gas: ${k} ${b.gas} -> ${a.gas} gas (${pct}%), fees ${b.fees_ton} -> ${a.fees_ton} TON`);
        changed++;
    }
}
if (changed === 0) {
    console.log(`gas: all ${keys.length} operations as in the committed snapshot`);
} else if (process.env.GAS_STRICT === '1') {
    console.error(`gas: ${changed} operation(s) differ from contracts/gas-snapshot.json: review and commit the new snapshot`);
    process.exit(1);
} else {
    console.log(`gas: ${changed} operation(s) changed; commit contracts/gas-snapshot.json with the change`);
}
