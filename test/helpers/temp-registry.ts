// The test runner (scripts/run-tests.js) fails a passing run that leaves anything in the
// temporary directory. When another run shares the machine, only what this run's helpers made can
// be told apart from the other's: each helper that makes something there names it in the file the
// runner gives in TLSSH_TEST_TEMP_LIST.
import { appendFileSync } from 'node:fs';

export function registerTemp(p: string): string {
  const list = process.env['TLSSH_TEST_TEMP_LIST'];
  if (list) appendFileSync(list, `${p}\n`);
  return p;
}
