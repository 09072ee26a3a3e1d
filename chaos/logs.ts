// Every line every instance prints, read as it comes: scanned for the personal
// data of the run's customers (the client knows every name, 주민등록번호 and
// phone it signed up, so the scan is exact, not a guess at shapes), counted,
// and the warnings and errors kept in logs/<instance>.log for reading after.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Invariant } from './checker.ts';
import type { Person } from './workload.ts';

/** A log line that carried personal data: where, when, which kind; the line itself with the data blanked. */
export interface PiiFinding {
  instance: string;
  at: number;
  kinds: string[];
  line: string;
}

const findingsKept = 50;
const excerptChars = 300;
/** Any 주민등록번호 in full, of anyone: six digits, a dash, a gender digit 1–8 and six more. */
const rrnShape = /\b\d{6}-[1-8]\d{6}\b/g;
/** Runs of digits and dashes that could be an RRN (13 digits) or a mobile number (11). */
const digitRuns = /\d[\d-]{9,14}\d/g;
const nonAscii = /[\u0080-\uffff]/;

export class LogScanner {
  readonly linesByInstance = new Map<string, number>();
  readonly findings: PiiFinding[] = [];
  findingCount = 0;
  readonly #folder: string;
  readonly #people: () => readonly Person[];
  #known = 0;
  /** RRNs and phones without dashes → their kind. */
  readonly #digits = new Map<string, string>();
  readonly #names = new Set<string>();

  constructor(folder: string, people: () => readonly Person[]) {
    this.#folder = folder;
    this.#people = people;
    mkdirSync(folder, { recursive: true });
  }

  /** The supervisor's onOutputLine. */
  take = (instance: string, line: string): void => {
    this.linesByInstance.set(instance, (this.linesByInstance.get(instance) ?? 0) + 1);
    this.#scan(instance, line);
    if (isWarningOrWorse(line))
      appendFileSync(join(this.#folder, `${instance.replace('#', '-')}.log`), `${line}\n`);
  };

  totalLines(): number {
    let total = 0;
    for (const count of this.linesByInstance.values()) total += count;
    return total;
  }

  /**
   * Linear in the line, whatever the number of people: digits shaped like an
   * RRN or a phone are looked up in sets; names (every name the workload
   * makes has a letter outside ASCII) are searched only in lines that have
   * one, raw or JSON-escaped. Thousands of lines a second under a fault
   * must not stall the run that reads them.
   */
  #scan(instance: string, line: string): void {
    this.#refreshNeedles();
    const kinds = new Set<string>();
    let blanked = line;
    for (const match of line.matchAll(digitRuns)) {
      const kind = this.#digits.get(match[0]) ?? this.#digits.get(match[0].replaceAll('-', ''));
      if (kind === undefined) continue;
      kinds.add(kind);
      blanked = blanked.replaceAll(match[0], `[${kind}]`);
    }
    if (rrnShape.test(line)) {
      kinds.add('rrn');
      blanked = blanked.replace(rrnShape, '[rrn]');
    }
    rrnShape.lastIndex = 0;
    if (nonAscii.test(line) || line.includes('\\u')) {
      for (const name of this.#names) {
        if (!line.includes(name)) continue;
        kinds.add('name');
        blanked = blanked.replaceAll(name, '[name]');
      }
    }
    if (kinds.size === 0) return;
    this.findingCount += 1;
    if (this.findings.length < findingsKept) {
      this.findings.push({
        instance,
        at: Date.now(),
        kinds: [...kinds],
        line: blanked.slice(0, excerptChars),
      });
    }
  }

  /** People are created during the run: the sets grow with them. */
  #refreshNeedles(): void {
    const people = this.#people();
    if (people.length === this.#known) return;
    for (const person of people.slice(this.#known)) {
      this.#digits.set(person.rrn.replace('-', ''), 'rrn');
      this.#digits.set(person.phone.replaceAll('-', ''), 'phone');
      this.#names.add(person.name);
      // A JSON line may escape what is not ASCII; look for that form too.
      const escaped = JSON.stringify(person.name, (_, value: string) => value).replace(
        /[\u0080-\uffff]/g,
        (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
      this.#names.add(escaped.slice(1, -1));
    }
    this.#known = people.length;
  }

  invariant(): Invariant {
    const lines = this.totalLines();
    return {
      name: 'no-pii-in-logs',
      statement:
        "no log line of any instance carries a customer's full name, 주민등록번호 or phone number (nor any 주민등록번호 in full)",
      ok: this.findingCount === 0,
      summary: `${lines.toLocaleString('en-US')} lines from ${this.linesByInstance.size} instances scanned; ${this.findingCount} with personal data`,
      findings: this.findings.map(
        (finding) =>
          `${finding.instance} at ${new Date(finding.at).toISOString()} (${finding.kinds.join(', ')}): ${finding.line}`,
      ),
    };
  }
}

/** pino's numeric level ≥ 40 (warn), or a line that is not JSON at all (a crash's stack, a runtime warning). */
function isWarningOrWorse(line: string): boolean {
  if (!line.startsWith('{')) return line.trim() !== '';
  const match = /"level":(\d+)/.exec(line);
  return match === null || Number(match[1]) >= 40;
}
