import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../helpers/data';

/**
 * The house rules on imports, checked on the TypeScript sources: imports run one way (no cycle among the modules
 * of src/ and nodes/, type-only and lazy `require` imports included, since a cycle there still ties two rooms
 * together), and src/ never imports Node-RED or nodes/.
 */

const SCANNED = ['src', 'nodes'];

/** Every module specifier a file names: static imports and re-exports, import(), require(). */
export function importSpecifiers(source: string): string[] {
  // Comments may quote import lines as examples; they are not imports.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.push(match[1]);
  return found;
}

function sourceFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The file a relative specifier names (`x` -> x.ts or x/index.ts), or undefined for a package or a non-TS file. */
function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (candidate.endsWith('.ts') && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface ImportGraph {
  /** Module (path relative to the root) -> the modules it imports. */
  edges: Map<string, string[]>;
  /** Module -> the package specifiers it imports. */
  packages: Map<string, string[]>;
}

export function importGraph(root: string, dirs: readonly string[] = SCANNED): ImportGraph {
  const edges = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  for (const file of dirs.flatMap((dir) => sourceFiles(path.join(root, dir)))) {
    const name = path.relative(root, file);
    const targets: string[] = [];
    const external: string[] = [];
    for (const specifier of importSpecifiers(fs.readFileSync(file, 'utf8'))) {
      const target = resolveRelative(file, specifier);
      if (target) targets.push(path.relative(root, target));
      else if (!specifier.startsWith('.')) external.push(specifier);
    }
    edges.set(name, [...new Set(targets)]);
    packages.set(name, [...new Set(external)]);
  }
  return { edges, packages };
}

/** The import cycles: each strongly connected component of more than one module (or a module importing itself). */
export function importCycles(edges: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (edges.get(node) ?? []).includes(node)) cycles.push(component.sort());
    }
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return cycles;
}

const NODE_RED_PACKAGE = /^(node-red($|\/)|@node-red\/|node-red-node-test-helper$)/;

describe('architecture: imports', function () {
  const graph = importGraph(projectRoot);

  it('finds the modules and their imports (the scan itself works)', function () {
    assert.ok(graph.edges.size > 50, `only ${graph.edges.size} modules found under ${SCANNED.join(', ')}`);
    const backendImporters = [...graph.edges].filter(([, targets]) => targets.includes(path.join('src', 'engines', 'backend.ts')));
    assert.ok(backendImporters.length > 0, 'no module imports src/engines/backend.ts: the scan misses imports');
  });

  it('has no import cycle among the modules of src/ and nodes/', function () {
    const cycles = importCycles(graph.edges);
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => `  ${c.join(' <-> ')}`).join('\n')}`);
  });

  it('keeps src/ free of Node-RED and of nodes/', function () {
    const offences: string[] = [];
    for (const [module, targets] of graph.edges) {
      if (!module.startsWith(`src${path.sep}`)) continue;
      for (const target of targets) if (target.startsWith(`nodes${path.sep}`)) offences.push(`${module} imports ${target}`);
      for (const pkg of graph.packages.get(module) ?? []) if (NODE_RED_PACKAGE.test(pkg)) offences.push(`${module} imports ${pkg}`);
    }
    assert.deepEqual(offences, []);
  });

  it('keeps each node folder to itself: a node imports its own folder, nodes/shared and src/, never another node', function () {
    // The one exception: a config node's controller, which the nodes that use the config node hold.
    const configNodeApis = new Set([path.join('nodes', 'hff-model', 'model-controller.ts')]);
    const offences: string[] = [];
    for (const [module, targets] of graph.edges) {
      const [top, folder] = module.split(path.sep);
      if (top !== 'nodes' || folder === 'shared') continue;
      for (const target of targets) {
        const [targetTop, targetFolder] = target.split(path.sep);
        if (targetTop === 'nodes' && targetFolder !== 'shared' && targetFolder !== folder && !configNodeApis.has(target))
          offences.push(`${module} imports ${target}`);
      }
    }
    assert.deepEqual(offences, []);
  });

  it('keeps the command line on top: only src/cli imports src/cli', function () {
    const cli = `src${path.sep}cli${path.sep}`;
    const offences = [...graph.edges]
      .filter(([module]) => !module.startsWith(cli))
      .flatMap(([module, targets]) => targets.filter((t) => t.startsWith(cli)).map((t) => `${module} imports ${t}`));
    assert.deepEqual(offences, []);
  });

  it('reports a cycle and a Node-RED import when there is one (the checks can fail)', function () {
    const cycles = importCycles(
      new Map([
        ['a.ts', ['b.ts']],
        ['b.ts', ['c.ts']],
        ['c.ts', ['a.ts']],
        ['d.ts', ['a.ts']],
      ]),
    );
    assert.deepEqual(cycles, [['a.ts', 'b.ts', 'c.ts']]);
    const specifiers = importSpecifiers(
      [
        "import type { Node } from 'node-red';",
        "export { x } from './x';",
        "const m = require('./lazy') as typeof import('./typed');",
        '// import { y } from "./in-a-comment";',
      ].join('\n'),
    );
    assert.deepEqual(specifiers.sort(), ['./lazy', './typed', './x', 'node-red'].sort());
    assert.ok(NODE_RED_PACKAGE.test('node-red') && NODE_RED_PACKAGE.test('@node-red/util') && !NODE_RED_PACKAGE.test('node-red-contrib-x'));
  });
});
