// Text a server chose (error messages, user and signal names) is printed on the user's terminal.
// A hostile server could hide escape sequences in it that retitle the window, move the cursor or
// rewrite what the user sees, so every control character is replaced before printing, as ssh
// does with strnvis().

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function sanitizeRemoteText(text: string, maxLength = 1024): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(CONTROL, '?');
  return flat.length > maxLength ? `${flat.slice(0, maxLength)}...` : flat;
}
