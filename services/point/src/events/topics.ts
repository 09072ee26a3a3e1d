/** The topics point reads and writes; tests and benches substitute their own names. */
export interface PointTopics {
  paymentRequested: string;
  paymentSettled: string;
}

/** Every topic point touches, its consumer's DLQ included (auto-create is off, so they must exist). */
export function topicsToEnsure(names: PointTopics): string[] {
  return [names.paymentRequested, names.paymentSettled, `${names.paymentSettled}.dlq`];
}

export const eventSource = 'point';
