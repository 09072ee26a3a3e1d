// A reporter for Node's test runner that writes one line per failed test
// (file, name, its error on one line) and nothing else. `nuri test`
// runs the fault tests after the rest, so the spec reporter's own list of
// failures scrolls away under the second run's output; this list is read
// back and printed last, where a CI log's tail shows it.

type FailEvent = {
  name: string;
  file?: string;
  line?: number;
  details: { error?: { message?: string; failureType?: string; cause?: unknown } };
};

type TestEvent = { type: string; data: unknown };

/** What went wrong, on one line, for a summary. */
function firstLine(error: FailEvent['details']['error']): string {
  const cause = error?.cause;
  const message = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : error?.message;
  return (message ?? 'failed').replace(/\s+/g, ' ').trim().slice(0, 300);
}

export default async function* failuresReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const data = event.data as FailEvent;
    // A suite fails because one of its tests did; that test has its own line.
    if (data.details.error?.failureType === 'subtestsFailed') continue;
    const where = data.file ? `${data.file}${data.line ? `:${data.line}` : ''}` : '(no file)';
    yield `${JSON.stringify({ where, name: data.name, error: firstLine(data.details.error) })}\n`;
  }
}
