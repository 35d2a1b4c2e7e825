// Signals that mean a worker crashed rather than was stopped: a bad memory access, a failed
// stack-protector check (abort), an illegal instruction. The listener penalises the source of a
// connection whose worker died of one before login (PerSourcePenalties crash), and a fork server
// whose worker did is replaced (fork-server-handle.ts).

export const CRASH_SIGNALS: ReadonlySet<string> = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT', 'SIGSYS', 'SIGTRAP']);
