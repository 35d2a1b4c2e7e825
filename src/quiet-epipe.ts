// `PROGRAM ... | head -1`: a reader that goes away ends the program quietly, as SIGPIPE would
// end a C program, instead of an unhandled EPIPE error on stdout.
export function exitQuietlyOnEpipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
