// What stat says of a file, as one comparable line: whoever built something from the file keeps
// this, and a different line later means the file was replaced, rewritten or removed meanwhile.
import * as fs from 'node:fs';

export function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${file} ${st.dev}:${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`;
  } catch (e) {
    return `${file} ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}
