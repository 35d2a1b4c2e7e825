// Loaded configs are shared by every part of a process; freezing them makes an accidental write
// throw (in strict mode) instead of silently changing behaviour elsewhere.
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
