/** Counts of the requests the server answered, for assertions such as "one LIST happened". */

/** Kubernetes verbs, plus 'discovery' for /api, /apis and /version and 'unknown' for unroutable paths. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection' | 'discovery' | 'unknown';

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly verb: Verb;
  /** Plural of the resource ('services'); with subresource, 'frontends/status'. */
  readonly resource?: string;
  readonly group?: string;
  readonly namespace?: string;
  readonly name?: string;
}

export type RequestFilter = Partial<RequestRecord>;

const MAX_RECORDS = 100_000;

function matches(record: RequestRecord, filter: RequestFilter): boolean {
  return (Object.keys(filter) as Array<keyof RequestRecord>).every((key) => filter[key] === undefined || record[key] === filter[key]);
}

export class RequestLog {
  private records: RequestRecord[] = [];

  add(record: RequestRecord): void {
    if (this.records.length >= MAX_RECORDS) this.records.shift();
    this.records.push(record);
  }

  all(): readonly RequestRecord[] {
    return [...this.records];
  }

  count(filter: RequestFilter = {}): number {
    return this.records.filter((r) => matches(r, filter)).length;
  }

  countBy(key: 'verb' | 'path'): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const record of this.records) counts[record[key]] = (counts[record[key]] ?? 0) + 1;
    return counts;
  }

  reset(): void {
    this.records = [];
  }
}
