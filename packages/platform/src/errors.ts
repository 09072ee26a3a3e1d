import assert from 'node:assert/strict';

const codePattern = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;

/**
 * An expected outcome that the client should see, e.g. 409 INSUFFICIENT_BALANCE.
 * The HTTP error handler turns it into problem+json; `extra` fields are merged
 * into that body (409 ALREADY_ISSUED carries `couponId`).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string | undefined;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(code: string, status: number, detail?: string, extra: Record<string, unknown> = {}) {
    // A malformed code or status is a programming error, not user input.
    if (!codePattern.test(code)) assert.fail(`AppError code must be UPPER_SNAKE, got ${code}`);
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, 'AppError status must be 4xx/5xx');
    // A 4xx is an answer, not a fault: nothing logs its stack, and capturing
    // one was a visible share of a refused coupon's CPU (a rush answers
    // mostly 409 and 410). A 5xx keeps its stack for the log.
    const stackTraceLimit = Error.stackTraceLimit;
    if (status < 500) Error.stackTraceLimit = 0;
    try {
      super(detail ?? code);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    setErrorName(this, 'AppError');
    this.code = code;
    this.status = status;
    this.detail = detail;
    this.extra = extra;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/**
 * Names an error without an enumerable own `name`: log redaction masks any
 * `name` key as a person's name, and pino copies enumerable error fields.
 */
export function setErrorName(error: Error, name: string): void {
  Object.defineProperty(error, 'name', {
    value: name,
    enumerable: false,
    configurable: true,
    writable: true,
  });
}
