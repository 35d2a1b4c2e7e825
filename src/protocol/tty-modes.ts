// The terminal's modes, carried as ssh carries them (RFC 4254 section 8): the client reads its
// own terminal's settings, the server gives them to the remote one, so that erase, interrupt,
// flow control and UTF-8 line editing work there as they do locally. No I/O here: the client
// reads them with `stty -a` (Node has no tcgetattr), the server applies them with `stty` on the
// new terminal before the shell starts.

/** Opcodes this side knows, with their stty(1) names. A special character's value is its byte; 255 means disabled. */
const CHARS: ReadonlyArray<readonly [number, string]> = [
  [1, 'intr'], [2, 'quit'], [3, 'erase'], [4, 'kill'], [5, 'eof'], [6, 'eol'], [7, 'eol2'],
  [8, 'start'], [9, 'stop'], [10, 'susp'], [12, 'rprnt'], [13, 'werase'], [14, 'lnext'],
  [16, 'swtch'], [18, 'discard'],
];

/**
 * Flags: value 1 set, 0 clear. PENDIN (62) is left out: OpenSSH clients send it, and Linux's
 * stty has no word for it, so naming it made stty refuse the whole line and every mode was lost.
 */
const FLAGS: ReadonlyArray<readonly [number, string]> = [
  [30, 'ignpar'], [31, 'parmrk'], [32, 'inpck'], [33, 'istrip'], [34, 'inlcr'], [35, 'igncr'],
  [36, 'icrnl'], [37, 'iuclc'], [38, 'ixon'], [39, 'ixany'], [40, 'ixoff'], [41, 'imaxbel'],
  [42, 'iutf8'],
  [50, 'isig'], [51, 'icanon'], [52, 'xcase'], [53, 'echo'], [54, 'echoe'], [55, 'echok'],
  [56, 'echonl'], [57, 'noflsh'], [58, 'tostop'], [59, 'iexten'], [60, 'echoctl'], [61, 'echoke'],
  [70, 'opost'], [71, 'olcuc'], [72, 'onlcr'], [73, 'ocrnl'], [74, 'onocr'], [75, 'onlret'],
  [90, 'cs7'], [91, 'cs8'], [92, 'parenb'], [93, 'parodd'],
];

/** ssh's encoding of a disabled special character (_POSIX_VDISABLE differs between systems). */
export const TTY_DISABLED = 255;

const CHAR_BY_NAME = new Map(CHARS.map(([op, name]) => [name, op]));
const FLAG_BY_NAME = new Map(FLAGS.map(([op, name]) => [name, op]));
const CHAR_BY_OP = new Map(CHARS);
const FLAG_BY_OP = new Map(FLAGS);

/** A special character as stty -a shows it ("^C", "^?", "M-^?", "<undef>", "a") to its byte. */
function charValue(shown: string): number | undefined {
  if (shown === '<undef>') return TTY_DISABLED;
  let meta = 0;
  let s = shown;
  if (s.startsWith('M-') && s.length > 2) {
    meta = 0x80;
    s = s.slice(2);
  }
  let v: number | undefined;
  if (s === '^?') v = 0x7f;
  else if (s.length === 2 && s[0] === '^') v = s.charCodeAt(1) & 0x1f;
  else if (s.length === 1) v = s.charCodeAt(0);
  if (v === undefined || v > 0x7f) return undefined;
  return v | meta;
}

/**
 * The modes in the text of GNU `stty -a` (Linux): "intr = ^C;" pairs and "-ixon"/"iutf8" words.
 * What it does not recognise it leaves out, as ssh sends only what its system has.
 */
export function modesFromSttyAll(text: string): Array<[number, number]> {
  const modes: Array<[number, number]> = [];
  for (const m of text.matchAll(/(?:^|[;\s])([a-z0-9]+) = ([^;\s]+);/g)) {
    const op = CHAR_BY_NAME.get(m[1]!);
    const v = op === undefined ? undefined : charValue(m[2]!);
    if (op !== undefined && v !== undefined) modes.push([op, v]);
  }
  for (const word of text.split(/[\s;]+/)) {
    const clear = word.startsWith('-');
    const op = FLAG_BY_NAME.get(clear ? word.slice(1) : word);
    if (op !== undefined) modes.push([op, clear ? 0 : 1]);
  }
  // The character size: stty shows it as one word (cs5..cs8); ssh sends CS7 and CS8 as flags.
  const size = /(?:^|\s)cs([5-8])(?=\s|$)/m.exec(text)?.[1];
  if (size !== undefined) {
    for (const [op, bits] of [[90, '7'], [91, '8']] as const) {
      if (!modes.some(([o]) => o === op)) modes.push([op, size === bits ? 1 : 0]);
    }
  }
  return modes;
}

/**
 * stty(1) arguments that give a terminal `modes`. Unknown opcodes are skipped, as sshd skips
 * them; so are values out of range. The last of repeated opcodes wins. Every argument is a fixed
 * name or a number made here, never text from the peer.
 */
export function sttyArgsFor(modes: ReadonlyArray<readonly [number, number]>): string[] {
  const chars = new Map<string, string>();
  const flags = new Map<string, boolean>();
  let size: 'cs7' | 'cs8' | undefined;
  for (const [op, value] of modes) {
    const charName = CHAR_BY_OP.get(op);
    if (charName !== undefined) {
      if (value > 0xff) continue;
      // 0 is Linux's _POSIX_VDISABLE too: a NUL could not be typed as the character anyway.
      chars.set(charName, value === TTY_DISABLED || value === 0 ? 'undef' : `0x${value.toString(16).padStart(2, '0')}`);
      continue;
    }
    const flagName = FLAG_BY_OP.get(op);
    if (flagName === undefined) continue;
    if (flagName === 'cs7' || flagName === 'cs8') {
      if (value !== 0) size = flagName;
      continue;
    }
    flags.set(flagName, value !== 0);
  }
  const args: string[] = [];
  for (const [name, v] of chars) args.push(name, v);
  for (const [name, on] of flags) args.push(on ? name : `-${name}`);
  if (size !== undefined) args.push(size);
  return args;
}
