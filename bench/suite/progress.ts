// Progress while the suite runs: timestamped lines on stderr, so stdout keeps
// only the summary table (and can be piped or diffed).
const startedAt = Date.now();

export function progress(message: string): void {
  const elapsedS = Math.round((Date.now() - startedAt) / 1_000);
  const stamp = `${String(Math.floor(elapsedS / 60)).padStart(2, '0')}:${String(elapsedS % 60).padStart(2, '0')}`;
  process.stderr.write(`[bench ${stamp}] ${message}\n`);
}
