// tlsshctl top: a live full-screen view of the sessions, built with blessed. One control
// request per second for the sessions and one for the status; `k` ends the selected session
// after a confirmation, `/` filters by user, `s` changes the sort, `?` shows the keys, `q` quits.
// The terminal is given back on every way out: q, ^C, SIGTERM, SIGHUP, an error.

import blessed from 'blessed';
import type { SessionView } from '../server/control-protocol';
import { DEFAULT_KILL_MESSAGE } from '../server/control-protocol';
import { controlRequest } from './client';
import { agentShort, formatBytes, formatDuration, printable, whatOf } from './format';
import { processTreeLines, readProcesses } from './process-tree';

const REFRESH_MS = 1000;
const SORTS = ['id', 'user', 'idle', 'bytes'] as const;
type Sort = (typeof SORTS)[number];

const HELP_TEXT = [
  'Sessions of this tlsshd, refreshed every second.',
  '',
  ' up/down  select a session',
  ' k        end the selected session (asks first)',
  ' /        show one user only (empty: everyone)',
  ' s        sort by id, user, idle time, bytes',
  ' ?        this help (any key closes it)',
  ' q, ^C    quit',
].join('\n');

function sorted(list: SessionView[], by: Sort): SessionView[] {
  const key = (s: SessionView): number | string => (by === 'id' ? s.id : by === 'user' ? s.user : by === 'idle' ? s.idle : -(s.bytesIn + s.bytesOut));
  return [...list].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : a.id - b.id;
  });
}

function row(s: SessionView, now: number): string {
  const age = formatDuration(Math.max(0, Math.floor((now - new Date(s.started).getTime()) / 1000)));
  return printable([
    String(s.id).padStart(5), s.user.slice(0, 9).padEnd(9), whatOf(s).slice(0, 11).padEnd(11),
    s.remote.replace(/ port \d+$/, '').slice(0, 15).padEnd(15), age.padStart(6), (s.adopted ? '-' : formatDuration(s.idle)).padStart(6),
    (s.adopted ? '-' : formatBytes(s.bytesIn)).padStart(6), (s.adopted ? '-' : formatBytes(s.bytesOut)).padStart(6), String(s.pid).padStart(7),
  ].join(' '));
}

// 79 columns: the table fits an 80x24 terminal; the detail pane has the rest.
const HEADER = ['   ID', 'USER'.padEnd(9), 'TTY/CMD'.padEnd(11), 'FROM'.padEnd(15), 'AGE'.padStart(6), 'IDLE'.padStart(6), 'IN'.padStart(6), 'OUT'.padStart(6), 'PID'.padStart(7)].join(' ');

function detail(s: SessionView | undefined): string {
  if (!s) return 'no session selected';
  return [
    `session ${s.id}: ${s.user} from ${s.remote}; ${s.kind ?? '?'}${s.tty ? ` on ${s.tty}` : ''}${s.command ? `: ${s.command}` : ''}`,
    `started ${s.started}; idle ${formatDuration(s.idle)}; in ${formatBytes(s.bytesIn)} out ${formatBytes(s.bytesOut)}`,
    `certificate: ${s.subject ?? '?'}, serial ${s.serial ?? '?'}, expires ${s.notAfter ?? '?'}`,
    `  fingerprint ${s.fingerprint ?? '?'}`,
    'processes:',
    ...treeOf(s.pid).map((l) => `  ${l}`),
  ].map(printable).join('\n');
}

/** The session's processes (worker, shell, children) from /proc; tlsshctl runs where tlsshd does. */
function treeOf(pid: number): string[] {
  const lines = processTreeLines(pid, readProcesses());
  return lines.length > 0 ? lines : [`${pid} (gone)`];
}

export async function runTop(socket: string): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    process.stderr.write('tlsshctl: top needs a terminal on stdin and stdout; use tlsshctl sessions instead\n');
    return 255;
  }
  // Fails before the screen is taken over: a daemon that is not there is one line, as elsewhere.
  await controlRequest(socket, { v: 1, op: 'status' });

  const screen = blessed.screen({ smartCSR: true, title: 'tlsshctl top', autoPadding: true });
  const header = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: 1, tags: false, content: HEADER, style: { bold: true } });
  const list = blessed.list({
    parent: screen, top: 1, left: 0, width: '100%', height: '50%-1', keys: true, vi: false, mouse: false,
    style: { selected: { inverse: true } }, items: [],
  });
  // Half the screen: in 80x24 that is the certificate and a few lines of the process tree.
  const info = blessed.box({ parent: screen, top: '50%', left: 0, width: '100%', height: '50%-1', border: { type: 'line' }, label: ' session ', content: '', wrap: false });
  const status = blessed.box({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, content: '', wrap: false, style: { inverse: true } });
  const question = blessed.question({ parent: screen, top: 'center', left: 'center', width: 60, height: 7, border: { type: 'line' }, hidden: true });
  const prompt = blessed.prompt({ parent: screen, top: 'center', left: 'center', width: 60, height: 8, border: { type: 'line' }, hidden: true });
  const help = blessed.message({ parent: screen, top: 'center', left: 'center', width: 56, height: 12, border: { type: 'line' }, hidden: true });
  void header;
  list.focus();

  let shown: SessionView[] = [];
  let filter = '';
  let sort: Sort = 'id';
  let note = '';
  let modal = false;
  let lastLogins: { at: number; logins: number } | undefined;
  let rate = 0;

  let finished: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finished = resolve));
  let timer: NodeJS.Timeout | undefined;
  const quit = (code: number): void => {
    if (timer) clearInterval(timer);
    screen.destroy();
    finished(code);
  };
  for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.once(sig, () => quit(sig === 'SIGINT' ? 0 : 255));

  const render = (all: SessionView[], st: Record<string, unknown> | undefined): void => {
    const selectedId = shown[(list as unknown as { selected: number }).selected]?.id;
    shown = sorted(all.filter((s) => filter === '' || s.user === filter), sort);
    const now = Date.now();
    list.setItems(shown.map((s) => row(s, now)) as unknown as blessed.Widgets.BlessedElement[]);
    const keep = shown.findIndex((s) => s.id === selectedId);
    list.select(keep >= 0 ? keep : 0);
    info.setContent(detail(shown[(list as unknown as { selected: number }).selected]));
    if (st) {
      const logins = typeof st['logins'] === 'number' ? st['logins'] : 0;
      if (lastLogins && now > lastLogins.at) rate = ((logins - lastLogins.logins) * 60_000) / (now - lastLogins.at);
      lastLogins = { at: now, logins };
    }
    const up = st && typeof st['uptime'] === 'number' ? formatDuration(st['uptime']) : '?';
    const tpm = st ? agentShort(st['tpmAgent']) : 'TPM ?';
    status.setContent(` ${shown.length}/${all.length} sessions  up ${up}  logins/min ${rate.toFixed(1)}  ${tpm}  pre-auth ${String(st?.['preauthHeld'] ?? '?')}+${String(st?.['preauthWorkers'] ?? '?')}${sort === 'id' ? '' : `  sort ${sort}`}${filter ? `  user ${filter}` : ''}  ? help  q quit${note ? `  | ${note}` : ''}`);
    screen.render();
  };
  let all: SessionView[] = [];
  let lastStatus: Record<string, unknown> | undefined;
  const refresh = async (): Promise<void> => {
    try {
      const [s, st] = await Promise.all([controlRequest(socket, { v: 1, op: 'sessions' }), controlRequest(socket, { v: 1, op: 'status' })]);
      if (s.ok && 'sessions' in s) all = s.sessions;
      if (st.ok && 'status' in st) lastStatus = st.status;
    } catch (e) {
      note = e instanceof Error ? e.message : String(e);
    }
    render(all, lastStatus);
  };
  list.on('select item', () => {
    info.setContent(detail(shown[(list as unknown as { selected: number }).selected]));
    screen.render();
  });
  screen.key(['q', 'C-c'], () => {
    if (!modal) quit(0);
  });
  screen.key(['s'], () => {
    if (modal) return;
    sort = SORTS[(SORTS.indexOf(sort) + 1) % SORTS.length] ?? 'id';
    render(all, lastStatus);
  });
  screen.key(['?'], () => {
    if (modal) return;
    modal = true;
    help.display(HELP_TEXT, 0, () => {
      modal = false;
      list.focus();
      screen.render();
    });
  });
  screen.key(['/'], () => {
    if (modal) return;
    modal = true;
    prompt.input('Show only the sessions of user (empty: everyone):', filter, (_err, value) => {
      modal = false;
      if (typeof value === 'string') filter = value.trim();
      list.focus();
      render(all, lastStatus);
    });
  });
  screen.key(['k'], () => {
    if (modal) return;
    const s = shown[(list as unknown as { selected: number }).selected];
    if (!s) return;
    modal = true;
    question.ask(`End session ${s.id} of ${printable(s.user)} from ${printable(s.remote)}? (y/n)`, (_err, yes) => {
      modal = false;
      list.focus();
      if (!yes) return render(all, lastStatus);
      void controlRequest(socket, { v: 1, op: 'kill', id: s.id, message: DEFAULT_KILL_MESSAGE }).then(
        (r) => { note = r.ok ? `ended session ${s.id}` : `kill ${s.id}: ${r.message}`; },
        (e: unknown) => { note = e instanceof Error ? e.message : String(e); },
      ).then(refresh);
    });
  });
  screen.on('resize', () => render(all, lastStatus));
  await refresh();
  timer = setInterval(() => void refresh(), REFRESH_MS);
  return done;
}
