// In-process fuzzing of the tlssh/2 decoder: well-formed and mutated frames, split as TCP could
// split them. The decoder may refuse anything, but only with its own frame errors; it must
// never hold back more than one frame's worth of bytes; and whatever it accepts must encode
// back to the same message (the encoder is the reference for what is well-formed).

import { isDeepStrictEqual } from 'node:util';
import { isTlsshError } from '../../src/errors';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import { LIMITS, type Message } from '../../src/protocol/messages';
import { chunks, mutate, randomFrame } from './frames';
import type { Rng } from './rng';

/** The only failures the decoder may report for hostile bytes. */
const CODEC_CODES = new Set(['TLSSH_ERR_FRAME_MALFORMED', 'TLSSH_ERR_FRAME_TOO_LARGE', 'TLSSH_ERR_FRAME_UNKNOWN_TYPE', 'TLSSH_ERR_FRAME_TRUNCATED']);
const MAX_HELD = 4 + LIMITS.maxFrameBody;

export interface CodecReport {
  frames: number;
  bytes: number;
  mutated: number;
  decoded: number;
  refused: Record<string, number>;
  /** Violations: anything here fails the run. */
  findings: string[];
  maxHeld: number;
}

function comparable(m: Message): unknown {
  return m.type === 'data' ? { ...m, data: Buffer.from(m.data).toString('hex') } : m;
}

export function fuzzCodec(rng: Rng, opts: { frames: number; deadline: number; onProgress?: (done: number) => void }): CodecReport {
  const r: CodecReport = { frames: 0, bytes: 0, mutated: 0, decoded: 0, refused: {}, findings: [], maxHeld: 0 };
  const finding = (what: string, input: Buffer): void => {
    if (r.findings.length < 20) r.findings.push(`${what} (input ${input.subarray(0, 64).toString('hex')}${input.length > 64 ? '…' : ''})`);
  };
  let decoder = new MessageDecoder();
  let framesInStream = 0;
  while (r.frames < opts.frames) {
    if ((r.frames & 1023) === 0) {
      if (Date.now() > opts.deadline) break;
      opts.onProgress?.(r.frames);
    }
    let frame = randomFrame(rng);
    if (rng.chance(0.7)) {
      frame = mutate(rng, frame, () => randomFrame(rng, { bigData: false }));
      r.mutated++;
    }
    r.frames++;
    r.bytes += frame.length;
    framesInStream++;
    try {
      for (const c of chunks(rng, frame)) {
        const msgs = decoder.push(c);
        r.maxHeld = Math.max(r.maxHeld, decoder.buffered);
        if (decoder.buffered > MAX_HELD) finding(`decoder holds ${decoder.buffered} bytes, over ${MAX_HELD}`, frame);
        for (const m of msgs) {
          r.decoded++;
          let again: Message[];
          try {
            again = new MessageDecoder().push(encodeMessage(m));
          } catch (e) {
            finding(`decoded ${m.type} does not encode back: ${isTlsshError(e) ? e.code : String(e)}`, frame);
            continue;
          }
          if (again.length !== 1 || !isDeepStrictEqual(comparable(again[0] as Message), comparable(m))) finding(`decoded ${m.type} changes on a round trip`, frame);
        }
      }
      // Now and then the connection ends here: a partial frame must be reported, not dropped.
      if (rng.chance(0.05)) {
        decoder.finish();
        decoder = new MessageDecoder();
        framesInStream = 0;
      }
    } catch (e) {
      const code = isTlsshError(e) ? e.code : `non-TlsshError ${e instanceof Error ? e.name : typeof e}`;
      r.refused[code] = (r.refused[code] ?? 0) + 1;
      if (!CODEC_CODES.has(code)) finding(`decoder threw ${code}: ${e instanceof Error ? e.message : String(e)}`, frame);
      // A refused stream is closed; the next connection gets a fresh decoder.
      decoder = new MessageDecoder();
      framesInStream = 0;
    }
    if (framesInStream > 64) {
      decoder = new MessageDecoder();
      framesInStream = 0;
    }
  }
  return r;
}
