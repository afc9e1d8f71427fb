// Compiles every contract in func/ (files with a recv_internal) into
// build/<name>.json = {"name", "codeBoc": base64, "codeHash": hex}.
// Contracts deployed as masterchain library cells (LIBRARIES) also get
// "libraryRef" (base64 BoC of the reference cell: exotic type 2, tag 0x02 +
// the code hash) and "libraryHash" (its hex hash): the reference is what goes
// into a child's StateInit and what its address derives from; the code itself
// is what a librarian publishes (Specification.md, "Escrow code as a
// masterchain library cell").
// `--check` recompiles and fails if a committed artifact differs.
const fs = require('fs');
const path = require('path');
const { compileFunc } = require('@ton-community/func-js');
const { beginCell, Cell } = require('@ton/core');

const root = path.join(__dirname, '..');
const funcDir = path.join(root, 'func');
const buildDir = path.join(root, 'build');
const check = process.argv.includes('--check');
/** Contracts whose code is used through a library reference cell. */
const LIBRARIES = new Set(['job_escrow']);

/** The library reference cell of `code`: exotic, 8-bit tag 2 + the 256-bit code hash. */
function libraryRef(code) {
    return beginCell().storeUint(2, 8).storeBuffer(code.hash(), 32).endCell({ exotic: true });
}

(async () => {
    const contracts = fs.readdirSync(funcDir)
        .filter((f) => f.endsWith('.fc') && /recv_internal\s*\(/.test(fs.readFileSync(path.join(funcDir, f), 'utf8')))
        .map((f) => f.replace(/\.fc$/, ''))
        .sort();
    fs.mkdirSync(buildDir, { recursive: true });
    let bad = 0;
    for (const name of contracts) {
        const r = await compileFunc({
            targets: [name + '.fc'],
            sources: (p) => fs.readFileSync(path.join(funcDir, p), 'utf8'),
        });
        if (r.status === 'error') {
            console.error(`${name}: ${r.message}`);
            process.exit(1);
        }
        const cell = Cell.fromBase64(r.codeBoc);
        const artifact = { name, codeBoc: r.codeBoc, codeHash: cell.hash().toString('hex') };
        if (LIBRARIES.has(name)) {
            const lib = libraryRef(cell);
            artifact.libraryRef = lib.toBoc().toString('base64');
            artifact.libraryHash = lib.hash().toString('hex');
        }
        const out = JSON.stringify(artifact, null, 2) + '\n';
        const file = path.join(buildDir, name + '.json');
        if (check) {
            const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
            if (old !== out) {
                console.error(`build/${name}.json differs from the compiled ${name}.fc: run npm run build and commit it`);
                bad++;
            } else console.log(`${name}: ok ${cell.hash().toString('hex')}`);
        } else {
            fs.writeFileSync(file, out);
            console.log(`${name}: ${cell.hash().toString('hex')}`);
        }
    }
    if (bad) process.exit(1);
})();
