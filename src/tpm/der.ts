// Just enough DER for the TSS2 key file: definite lengths, no indefinite forms, every length
// checked against what is left, so a truncated or hostile file fails cleanly instead of reading
// past the end.

export interface DerNode {
  readonly tag: number;
  /** The content octets, a view into the input. */
  readonly body: Buffer;
  /** Offset just past this element. */
  readonly end: number;
}

export class DerError extends Error {}

export function readDer(buf: Buffer, offset: number): DerNode {
  if (offset + 2 > buf.length) throw new DerError(`truncated at byte ${offset}`);
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at byte ${offset}`);
  let len = buf[offset + 1] as number;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3) throw new DerError(`unsupported length form at byte ${offset}`);
    if (pos + n > buf.length) throw new DerError(`truncated length at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[pos + i] as number);
    pos += n;
  }
  if (pos + len > buf.length) throw new DerError(`element at byte ${offset} runs past the end`);
  return { tag, body: buf.subarray(pos, pos + len), end: pos + len };
}

/** The elements of a constructed body, in order. */
export function readChildren(body: Buffer): DerNode[] {
  const out: DerNode[] = [];
  let off = 0;
  while (off < body.length) {
    const node = readDer(body, off);
    out.push(node);
    off = node.end;
  }
  return out;
}

export function encodeDer(tag: number, body: Buffer): Buffer {
  const len = body.length;
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else if (len < 0x100) head = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) head = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else head = Buffer.from([tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]);
  return Buffer.concat([head, body]);
}

export function encodeUnsigned(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return encodeDer(0x02, Buffer.from(bytes));
}

/** A non-negative INTEGER that fits in 32 bits (TPM handles). */
export function decodeUnsigned32(body: Buffer): number {
  if (body.length === 0 || body.length > 5) throw new DerError('INTEGER out of range');
  if ((body[0] as number) & 0x80) throw new DerError('negative INTEGER');
  if (body.length === 5 && body[0] !== 0) throw new DerError('INTEGER out of range');
  let v = 0;
  for (const b of body) v = v * 256 + b;
  return v;
}
