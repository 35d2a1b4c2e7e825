#!/usr/bin/env node
'use strict';
// Bundles each program into one file (dist/bundle/NAME.js) with esbuild, from the compiled
// dist/src, and makes the V8 code cache for each (NAME.js.cache) with the node that runs this
// script. One file instead of ~50 saves the module loader's work at every start; the cache saves
// V8's parsing and compiling (see src/launcher/run-bundle.ts for when a cache is used).
//
// Left outside the bundles, found at run time from their real paths: node-pty (its native module
// is located relative to its own files), blessed (tlsshctl top; its widgets and terminfo likewise) and the TPM addon (build/Release/tlssh_tpm.node, found
// from __dirname, which is dist/bundle: the same depth as dist/src/tpm's parent).
//
// Usage: node scripts/bundle.js [COMPILED_SRC_DIR OUT_DIR]   (default: dist/src dist/bundle)

const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const root = path.resolve(__dirname, '..');
const srcDir = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'src'));
const outDir = path.resolve(process.argv[3] ?? path.join(root, 'dist', 'bundle'));

let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  console.error('bundle: esbuild is missing: run npm ci (it is a devDependency)');
  process.exit(1);
}

// The programs; the worker is the listener's fork() target, a program of its own.
const PROGRAMS = {
  // The client is two bundles: tlssh.js parses the command line, loads the configuration and
  // runs sessions through a connection-sharing master, without TLS, the TPM addon or the
  // protocol codec; tlssh-full.js (run-client) is loaded from it only for a direct connection.
  tlssh: 'client/main.js',
  'tlssh-full': 'client/run-client.js',
  tlsshd: 'server/main.js',
  'tlsshd-worker': 'server/worker-main.js',
  'tlssh-keygen': 'keygen/main.js',
  tlsshctl: 'ctl/main.js',
  // The connection-sharing master, started detached by a client (src/client/master-main.ts).
  'tlssh-master': 'client/master-main.js',
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // blessed loads its widgets and terminfo files by computed paths relative to its own files.
  external: ['node-pty', 'node-pty/*', '*.node', 'blessed'],
  legalComments: 'none',
  logLevel: 'warning',
  // binding.ts requires the addon by a computed path on purpose.
  logOverride: { 'unsupported-require-call': 'silent' },
  // The compiled code may live outside the checkout (build-deb.sh compiles into /tmp): the
  // dependencies and package.json (its version, required as ../../../package.json) are this
  // checkout's.
  nodePaths: [path.join(root, 'node_modules')],
  plugins: [{
    name: 'package-json',
    setup(build) {
      build.onResolve({ filter: /^(\.\.\/)+package\.json$/ }, () => ({ path: path.join(root, 'package.json') }));
    },
  }, {
    name: 'builtin-namespaces',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, (args) => {
        if (!args.path.startsWith(srcDir + path.sep)) return undefined;
        return { contents: plainBuiltins(fs.readFileSync(args.path, 'utf8')), loader: 'js' };
      });
    },
  }],
};

// tsc turns `import * as fs from 'node:fs'` into __importStar(require("node:fs")), which copies
// every export of the module onto a new object, one defineProperty each: node:fs has 104. The 32
// such imports of the light client cost 3 ms of its ~20 ms of JavaScript, at every start of every
// program. A builtin is a plain CommonJS object without __esModule, so the copy only adds
// `default`, which no code here uses (test/unit/bundle-builtins checks that): the module itself
// serves as the namespace.
function plainBuiltins(code) {
  return code.replace(/__importStar\(require\((["'])(node:[a-z_/]+)\1\)\)/g, 'require("$2")');
}

// In tlssh.js, main.js's require('./run-client') becomes a load of tlssh-full.js, with its cache.
const splitClient = {
  name: 'split-client',
  setup(build) {
    build.onResolve({ filter: /^\.\/run-client$/ }, (args) =>
      path.basename(args.importer) === 'main.js' ? { path: 'tlssh-full', namespace: 'split-client' } : undefined);
    build.onLoad({ filter: /.*/, namespace: 'split-client' }, () => ({
      contents: "module.exports = require('./run-bundle.js').loadBundle(require('node:path').join(__dirname, 'tlssh-full.js')).exports;",
      loader: 'js',
    }));
  },
};

/** A few lines that run `bundle` (beside them) with its code cache, for a fork()/spawn() target. */
function writeStarter(dir, file, bundle, what) {
  fs.writeFileSync(path.join(dir, file), [
    "'use strict';",
    `// ${what}: runs its bundle (see scripts/bundle.js).`,
    `require('./run-bundle.js').runBundle(require('node:path').join(__dirname, '${bundle}'));`,
    '',
  ].join('\n'));
}

// What the light client must never carry: a direct connection's code belongs in tlssh-full.js.
const NOT_LIGHT = [/\/transport\//, /\/tpm\//, /\/protocol\/codec/, /\/client\/run-client\.js$/, /\/client\/session\.js$/, /node-pty/];

function checkLight(metafile) {
  const inputs = Object.keys(Object.values(metafile.outputs)[0].inputs);
  const heavy = inputs.filter((i) => NOT_LIGHT.some((re) => re.test(i)));
  if (heavy.length > 0) throw new Error(`tlssh.js (the light client) would carry ${heavy.join(', ')}`);
}

async function main() {
  // Everything is made in a scratch directory and then renamed into place file by file, so a
  // program started meanwhile (tests run in parallel) sees whole files, old or new; a new bundle
  // beside an old cache is safe, since the cache's key then does not match.
  const finalDir = outDir;
  fs.mkdirSync(finalDir, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(finalDir, '.build-'));
  try {
    for (const [name, entry] of Object.entries(PROGRAMS)) {
      const split = name === 'tlssh' ? { plugins: [...common.plugins, splitClient], external: [...common.external, './run-bundle.js'] } : {};
      const r = await esbuild.build({ ...common, ...split, metafile: true, entryPoints: [path.join(srcDir, entry)], outfile: path.join(scratch, `${name}.js`) });
      if (name === 'tlssh') checkLight(r.metafile);
    }
    // The loader itself, and the file the listener forks (worker-main.js beside the listener,
    // as in dist/src/server), which runs the worker's bundle with its cache.
    // The master a client starts is started the same way.
    await esbuild.build({ ...common, entryPoints: [path.join(srcDir, 'launcher', 'run-bundle.js')], outfile: path.join(scratch, 'run-bundle.js') });
    writeStarter(scratch, 'worker-main.js', 'tlsshd-worker.js', 'The worker process');
    writeStarter(scratch, 'tlssh-master-main.js', 'tlssh-master.js', 'The connection-sharing master');

    // V8 compiles a function only when it is first called, and a cache holds only what was compiled,
    // so a cache of a freshly compiled script would hold little more than the top level. Compiling
    // with --no-lazy puts every function in it: measured on a login, 10 ms less client CPU than no
    // cache, where a top-level-only cache gained 2-3 ms. The flag is put back before the cache is
    // made, so the cache's flag hash is the one a normal node has and V8 accepts it there.
    const v8 = require('node:v8');
    const { wrapSource, encodeCache } = require(path.join(scratch, 'run-bundle.js'));
    for (const name of Object.keys(PROGRAMS)) {
      const file = path.join(scratch, `${name}.js`);
      const bytes = fs.readFileSync(file);
      const source = bytes.toString('utf8');
      v8.setFlagsFromString('--no-lazy');
      let script;
      try {
        script = new vm.Script(wrapSource(source), { filename: file });
      } finally {
        v8.setFlagsFromString('--lazy');
      }
      fs.writeFileSync(`${file}.cache`, encodeCache(bytes, script.createCachedData()));
    }

    for (const f of fs.readdirSync(scratch)) fs.renameSync(path.join(scratch, f), path.join(finalDir, f));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bundle: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
