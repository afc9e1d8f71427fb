// A stock TON client library (@ton/ton's TonClient, unchanged) against the
// devnet's toncenter API: query, fund from the faucet, deploy a wallet, send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TonClient, WalletContractV5R1, internal, SendMode, toNano, Address } from '@ton/ton';
import { keyPairFromSeed } from '@ton/crypto';
import { createHash } from 'node:crypto';
import { startDevnet, waitFor } from './devnet.mjs';

test('TonClient queries, funds, deploys and sends against the devnet', async () => {
  const net = await startDevnet(['--block-ms', '100', '--wallets', '2']);
  try {
    const client = new TonClient({ endpoint: net.jsonRpc });

    // Query.
    const mc = await client.getMasterchainInfo();
    assert.equal(mc.workchain, -1);
    assert.ok(mc.latestSeqno >= 1);
    const [, genesis1] = (await net.devnet('wallets')).map((w) => Address.parse(w.address));
    assert.ok((await client.getBalance(genesis1)) > toNano('999'));
    assert.equal((await client.getContractState(genesis1)).state, 'active');

    // A fresh wallet v5r1 from a key only this test knows.
    const keys = keyPairFromSeed(createHash('sha256').update('client.test wallet').digest());
    const wallet = client.open(WalletContractV5R1.create({ workchain: 0, publicKey: keys.publicKey }));
    assert.equal(await client.isContractDeployed(wallet.address), false);

    // Fund from the faucet (devnet-only endpoint), then wait for a block.
    await net.devnet('faucet', { address: wallet.address.toString(), amount: toNano('10').toString() });
    await waitFor('funding', async () => (await client.getBalance(wallet.address)) === toNano('10'));

    // Deploy + send: the provider attaches the state init because the wallet is not deployed.
    const before = await client.getBalance(genesis1);
    await wallet.sendTransfer({
      seqno: 0,
      secretKey: keys.secretKey,
      sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
      messages: [internal({ to: genesis1, value: toNano('1.5'), bounce: true, body: 'hello devnet' })],
    });
    await waitFor('deploy', () => client.isContractDeployed(wallet.address));
    await waitFor('transfer', async () => (await client.getBalance(genesis1)) > before);
    assert.equal(await wallet.getSeqno(), 1);

    // Get-methods and transactions through the same client.
    const pk = await client.runMethod(wallet.address, 'get_public_key');
    assert.equal(pk.stack.readBigNumber(), BigInt('0x' + keys.publicKey.toString('hex')));
    const txs = await client.getTransactions(wallet.address, { limit: 10 });
    assert.equal(txs.length, 2); // faucet credit, then deploy + transfer
    const sent = txs[0];
    assert.equal(sent.outMessages.size, 1);
    assert.equal(sent.outMessages.get(0).info.dest.toString(), genesis1.toString());
    assert.equal(sent.description.computePhase.type, 'vm');
    assert.equal(sent.description.computePhase.exitCode, 0);
    // Paging by (lt, hash) as toncenter does (the client drops the starting one).
    const older = await client.getTransactions(wallet.address, { limit: 5, lt: sent.lt.toString(), hash: sent.hash().toString('base64') });
    assert.equal(older.length, 1);
    assert.equal(older[0].hash().toString('hex'), txs[1].hash().toString('hex'));
    const inclusive = await client.getTransactions(wallet.address, { limit: 5, lt: sent.lt.toString(), hash: sent.hash().toString('base64'), inclusive: true });
    assert.equal(inclusive.length, 2);
    const located = await client.tryLocateResultTx(wallet.address, genesis1, sent.outMessages.get(0).info.createdLt.toString());
    assert.equal(located.inMessage.info.src.toString(), wallet.address.toString());

    // A stale seqno is refused with toncenter's error.
    await assert.rejects(
      wallet.sendTransfer({ seqno: 0, secretKey: keys.secretKey, messages: [internal({ to: genesis1, value: 1n })] }),
      (e) => e.response?.status === 500 && /External message was not accepted/.test(e.response.data.error),
    );

    // estimateFee via the client.
    const fee = await client.estimateExternalMessageFee(wallet.address, {
      body: wallet.createTransfer({ seqno: 1, secretKey: keys.secretKey, messages: [internal({ to: genesis1, value: 1n })] }),
      initCode: null, initData: null, ignoreSignature: true,
    });
    assert.ok(fee.source_fees.gas_fee > 0);
  } finally {
    net.stop();
  }
});
