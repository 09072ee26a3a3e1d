// Progress while a run goes: timestamped lines on stderr (the summary table
// goes to stdout at the end).
const startedAt = Date.now();

export function progress(message: string): void {
  const elapsedS = Math.round((Date.now() - startedAt) / 1_000);
  const stamp = `${String(Math.floor(elapsedS / 60)).padStart(2, '0')}:${String(elapsedS % 60).padStart(2, '0')}`;
  process.stderr.write(`[chaos ${stamp}] ${message}\n`);
}

/** A results folder's name: the UTC time, sortable, safe in a path. */
export function timestamp(at: number): string {
  return new Date(at)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
}
