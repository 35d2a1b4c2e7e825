// Text from elsewhere (a peer's messages, certificate names, a worker's report) ends up on
// terminals and in logs. A terminal obeys C0 and C1 controls (an escape sequence starts with ESC,
// or with U+009B, the one-character CSI), so such text could retitle a window, move the cursor,
// rewrite what is on the screen or forge a log line; bidirectional overrides and invisible
// characters make one text read as another. Every such character becomes '?', as OpenSSH
// prints what it did not write itself through strnvis(). One rule for every place that prints.

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, '?');
}

/**
 * JSON for a terminal: JSON.stringify leaves C1 controls and the bidirectional and invisible
 * characters as they are, so they are written as \uXXXX escapes, which parse to the same value.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
