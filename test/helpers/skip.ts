/**
 * Skips the running test (or hook) because this machine lacks something it needs (a data set, an optional engine,
 * a broker, a browser), printing why. Under HFF_REQUIRE_ALL=1, which `.ci/run` sets, that is a failure instead: CI
 * installs everything, so nothing passes there by not running.
 */
export function skipForEnvironment(ctx: Mocha.Context, reason: string): never {
  if (process.env.HFF_REQUIRE_ALL === '1') {
    throw new Error(`cannot run: ${reason} (HFF_REQUIRE_ALL=1: in CI every test must run, none may skip)`);
  }
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
