import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { AGENT_OP, AgentProtocolError, MAX_REQUEST, RequestDecoder, decodeResponse, encodeFailure, encodeOk, encodeRequest } from '../../src/tpm/agent-protocol';

describe('key agent protocol', () => {
  const req = { op: AGENT_OP.ecdsaSign, keyId: '/etc/tlssh/ключ.tss2', input: Buffer.alloc(32, 7) } as const;

  it('decodes a request however the bytes are split', () => {
    const wire = encodeRequest(req);
    assert.equal(wire.readUInt32BE(0), wire.length - 4);
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new RequestDecoder();
      const first = d.push(wire.subarray(0, cut));
      const got = cut === wire.length ? first : d.push(wire.subarray(cut));
      assert.deepEqual(got, { op: req.op, keyId: req.keyId, input: req.input });
    }
  });

  it('refuses oversized, unknown, inconsistent and over-long requests', () => {
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(MAX_REQUEST + 1);
    const wire = encodeRequest(req);
    const badOp = Buffer.from(wire);
    badOp[4] = 9;
    const badId = Buffer.from(wire);
    badId.writeUInt16BE(0xffff, 5);
    for (const bytes of [huge, badOp, badId, Buffer.concat([wire, Buffer.from([1])]), Buffer.from([0, 0, 0, 1, 1])]) {
      assert.throws(() => new RequestDecoder().push(bytes), AgentProtocolError);
    }
  });

  it('encodes answers and failures', () => {
    assert.deepEqual(decodeResponse(encodeOk(Buffer.from([1, 2]))), { ok: true, output: Buffer.from([1, 2]) });
    assert.deepEqual(decodeResponse(encodeFailure('TLSSH_ERR_TPM_AUTH', 'wrong\npassword')), { ok: false, code: 'TLSSH_ERR_TPM_AUTH', message: 'wrong password' });
    assert.throws(() => decodeResponse(Buffer.from([0, 0, 0, 0, 5, 1])), AgentProtocolError);
    assert.throws(() => decodeResponse(Buffer.from([7, 0, 0, 0, 0])), AgentProtocolError);
  });
});
