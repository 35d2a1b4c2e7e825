// Builds an error message that always encodes. Error text comes from anywhere (system errors,
// file names, peer input) and is sent on the way out of a failing connection, where a second
// failure would lose the reason; so it is cleaned up here instead of being refused by the codec.

import { LIMITS, type ErrorMessage } from './messages';

const CODE_RE = /^TLSSH_ERR_[A-Z0-9_]+$/;
const CONTROL_RUN_RE = /[\u0000-\u001f\u007f-\u009f]+/g;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ELLIPSIS = '…';

/**
 * An ErrorMessage carrying `code` and `text`: control characters (line breaks, escapes) become a
 * space, text over LIMITS.maxErrorMessage bytes is cut at a character boundary and ends in "…",
 * and a code that is not TLSSH_ERR_[A-Z0-9_]+ (or too long) becomes TLSSH_ERR_INTERNAL.
 */
export function toErrorMessage(code: string, text: string): ErrorMessage {
  const safeCode = CODE_RE.test(code) && code.length <= LIMITS.maxErrorCode ? code : 'TLSSH_ERR_INTERNAL';
  let message = text.replace(LONE_SURROGATE_RE, '\uFFFD').replace(CONTROL_RUN_RE, ' ').trim();
  if (Buffer.byteLength(message, 'utf8') > LIMITS.maxErrorMessage) {
    const budget = LIMITS.maxErrorMessage - Buffer.byteLength(ELLIPSIS, 'utf8');
    let used = 0;
    let end = 0;
    for (const ch of message) {
      const n = Buffer.byteLength(ch, 'utf8');
      if (used + n > budget) break;
      used += n;
      end += ch.length;
    }
    message = message.slice(0, end) + ELLIPSIS;
  }
  return { type: 'error', code: safeCode, message };
}
