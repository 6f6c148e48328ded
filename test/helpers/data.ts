import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipForEnvironment } from './skip';

/** Root of the project (tests run compiled from dist/test/...). */
export const projectRoot = path.resolve(__dirname, '..', '..', '..');

/**
 * Folder of the shared real datasets: $HFF_DATA, else ../shared/data beside the project.
 * Returns undefined when absent so that tests can skip with a reason.
 */
export function sharedDataDir(): string | undefined {
  const dir = process.env.HFF_DATA ?? path.resolve(projectRoot, '..', 'shared', 'data');
  return fs.existsSync(dir) ? dir : undefined;
}

/** Skips the current mocha test (or suite hook) with a printed reason when the shared data set is missing. */
export function requireSharedData(ctx: Mocha.Context, dataset: string): string {
  const dir = sharedDataDir();
  const full = dir ? path.join(dir, dataset) : undefined;
  if (!full || !fs.existsSync(full)) {
    skipForEnvironment(ctx, `shared data set '${dataset}' not found (set HFF_DATA or provide ../shared/data)`);
  }
  return full as string;
}

const createdTempDirs: string[] = [];

/**
 * A fresh temporary folder for one test, removed when the test process exits (a run of the suite made about 150 of
 * them and left every one behind).
 */
export function tempDir(prefix = 'hff-test-'): string {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), prefix));
  if (createdTempDirs.length === 0) process.once('exit', removeCreatedTempDirs);
  createdTempDirs.push(dir);
  return dir;
}

function removeCreatedTempDirs(): void {
  for (const dir of createdTempDirs.splice(0)) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder still held by a child process that outlived the run is left for the OS to clean.
    }
  }
}
