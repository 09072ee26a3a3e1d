import type { ComponentChildren } from 'preact';
import { useId } from 'preact/hooks';
import type { Problem } from './api.ts';
import type { Words } from './i18n.ts';

/** A labelled input, its rule (if any) read out with it, its error announced. */
export function Field(props: {
  label: string;
  name: string;
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'password' | 'tel' | 'datetime-local' | 'number';
  hint?: string;
  error?: string;
  required?: boolean;
  autoComplete?: string;
  inputMode?: 'numeric' | 'text';
  maxLength?: number;
  readOnly?: boolean;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [props.hint ? hintId : '', props.error ? errorId : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        // Preact types each input type apart; the union is fine at run time.
        type={(props.type ?? 'text') as 'text'}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        maxLength={props.maxLength}
        readOnly={props.readOnly}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy || undefined}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
      {props.hint && (
        <p id={hintId} class="hint">
          {props.hint}
        </p>
      )}
      {props.error && (
        <p id={errorId} class="field-error">
          {props.error}
        </p>
      )}
    </div>
  );
}

/** A problem in words, from its code; role=alert so a screen reader says it at once. */
export function ProblemMessage(props: { problem: Problem | undefined; words: Words }) {
  if (props.problem === undefined) return null;
  const { code, detail } = props.problem;
  const text = props.words.errors[code] ?? props.words.unknownError(code);
  return (
    <p role="alert" class="error" data-code={code}>
      {text}
      {code === 'VALIDATION_FAILED' && detail ? ` (${detail})` : ''}
    </p>
  );
}

export function Notice(props: { children: ComponentChildren }) {
  return (
    <p role="status" class="notice">
      {props.children}
    </p>
  );
}

export function Section(props: { title: string; children: ComponentChildren; level?: 2 | 3 }) {
  const Heading = props.level === 3 ? 'h3' : 'h2';
  return (
    <section class="card">
      <Heading>{props.title}</Heading>
      {props.children}
    </section>
  );
}

/** Digits of an amount the customer typed ("10,000" → 10000); undefined unless a whole positive number. */
export function parseAmountInput(text: string): number | undefined {
  const digits = text.replace(/[,\s₩원]/g, '');
  if (!/^\d{1,16}$/.test(digits)) return undefined;
  const value = Number(digits);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
