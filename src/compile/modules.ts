/**
 * `modules` in the template context: the parts of Python's datetime, re and pytz that dbt projects use
 * (`modules.datetime.datetime.now().strftime('%Y')`, `modules.re.match(...)`). Times are UTC.
 */

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

export class PyTimedelta {
  readonly ms: number;
  constructor(opts: { days?: number; hours?: number; minutes?: number; seconds?: number; weeks?: number; milliseconds?: number } = {}) {
    this.ms =
      ((opts.weeks ?? 0) * 7 * 86400 + (opts.days ?? 0) * 86400 + (opts.hours ?? 0) * 3600 + (opts.minutes ?? 0) * 60 + (opts.seconds ?? 0)) * 1000 +
      (opts.milliseconds ?? 0);
  }
  get days() {
    return Math.floor(this.ms / 86400000);
  }
  total_seconds() {
    return this.ms / 1000;
  }
}

export class PyDatetime {
  constructor(readonly jsDate: Date, readonly dateOnly = false) {}
  get year() { return this.jsDate.getUTCFullYear(); }
  get month() { return this.jsDate.getUTCMonth() + 1; }
  get day() { return this.jsDate.getUTCDate(); }
  get hour() { return this.jsDate.getUTCHours(); }
  get minute() { return this.jsDate.getUTCMinutes(); }
  get second() { return this.jsDate.getUTCSeconds(); }
  get microsecond() { return this.jsDate.getUTCMilliseconds() * 1000; }
  strftime(fmt: string): string {
    const d = this.jsDate;
    return fmt.replace(/%([a-zA-Z%])/g, (_m, c: string) => {
      switch (c) {
        case 'Y': return String(d.getUTCFullYear());
        case 'y': return pad(d.getUTCFullYear() % 100);
        case 'm': return pad(d.getUTCMonth() + 1);
        case 'd': return pad(d.getUTCDate());
        case 'H': return pad(d.getUTCHours());
        case 'I': return pad(((d.getUTCHours() + 11) % 12) + 1);
        case 'p': return d.getUTCHours() < 12 ? 'AM' : 'PM';
        case 'M': return pad(d.getUTCMinutes());
        case 'S': return pad(d.getUTCSeconds());
        case 'f': return pad(d.getUTCMilliseconds() * 1000, 6);
        case 'j': return pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1, 3);
        case 'A': return DAYS[d.getUTCDay()];
        case 'a': return DAYS[d.getUTCDay()].slice(0, 3);
        case 'B': return MONTHS[d.getUTCMonth()];
        case 'b': return MONTHS[d.getUTCMonth()].slice(0, 3);
        case 'w': return String(d.getUTCDay());
        case 'z': return '+0000';
        case 'Z': return 'UTC';
        case '%': return '%';
        default: return `%${c}`;
      }
    });
  }
  isoformat(sep = 'T'): string {
    return this.dateOnly ? this.strftime('%Y-%m-%d') : this.strftime(`%Y-%m-%d${sep}%H:%M:%S.%f`).replace(/\.000000$/, '');
  }
  toString(): string {
    return this.dateOnly ? this.isoformat() : this.isoformat(' ');
  }
  timestamp(): number {
    return this.jsDate.getTime() / 1000;
  }
  date(): PyDatetime {
    return new PyDatetime(new Date(Date.UTC(this.year, this.month - 1, this.day)), true);
  }
  replace(kw: Record<string, number> = {}): PyDatetime {
    const d = new Date(Date.UTC(kw.year ?? this.year, (kw.month ?? this.month) - 1, kw.day ?? this.day,
      kw.hour ?? this.hour, kw.minute ?? this.minute, kw.second ?? this.second, Math.floor((kw.microsecond ?? this.microsecond) / 1000)));
    return new PyDatetime(d, this.dateOnly);
  }
  astimezone(): PyDatetime {
    return this;
  }
  weekday(): number {
    return (this.jsDate.getUTCDay() + 6) % 7;
  }
  __add__(other: unknown): PyDatetime {
    if (other instanceof PyTimedelta) return new PyDatetime(new Date(this.jsDate.getTime() + other.ms), this.dateOnly);
    throw new Error('datetime + requires a timedelta');
  }
  __sub__(other: unknown): PyDatetime | PyTimedelta {
    if (other instanceof PyTimedelta) return new PyDatetime(new Date(this.jsDate.getTime() - other.ms), this.dateOnly);
    if (other instanceof PyDatetime) return new PyTimedelta({ milliseconds: this.jsDate.getTime() - other.jsDate.getTime() });
    throw new Error('datetime - requires a timedelta or datetime');
  }
}
function kwOf(args: unknown[]): Record<string, number> {
  const last = args[args.length - 1] as Record<string, unknown> | undefined;
  return last && typeof last === 'object' && (last as { __keywords?: boolean }).__keywords ? (last as Record<string, number>) : {};
}

function parseIso(s: string): Date {
  const normalized = /^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : /[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s.replace(' ', 'T')}Z`;
  const d = new Date(normalized);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid isoformat string: '${s}'`);
  return d;
}

const datetimeClass = Object.assign(
  (...args: unknown[]) => {
    const [y, mo, d, h = 0, mi = 0, s = 0] = args.filter((a) => typeof a === 'number') as number[];
    return new PyDatetime(new Date(Date.UTC(y, mo - 1, d, h, mi, s)));
  },
  {
    now: () => new PyDatetime(new Date()),
    utcnow: () => new PyDatetime(new Date()),
    today: () => new PyDatetime(new Date()),
    fromisoformat: (s: string) => new PyDatetime(parseIso(s)),
    strptime: (s: string) => new PyDatetime(parseIso(s)),
    fromtimestamp: (t: number) => new PyDatetime(new Date(t * 1000)),
  },
);
const dateClass = Object.assign(
  (y: number, m: number, d: number) => new PyDatetime(new Date(Date.UTC(y, m - 1, d)), true),
  {
    today: () => new PyDatetime(new Date(), true).date(),
    fromisoformat: (s: string) => new PyDatetime(parseIso(s), true),
  },
);

function pyRegex(pattern: string, flags = 0): RegExp {
  const f = (flags & 2 ? 'i' : '') + (flags & 8 ? 'm' : '') + (flags & 16 ? 's' : '');
  return new RegExp(pattern.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>'), f);
}

class PyMatch {
  constructor(private readonly m: RegExpExecArray) {}
  group(i: number | string = 0) {
    return (typeof i === 'number' ? this.m[i] : this.m.groups?.[i]) ?? null;
  }
  groups() {
    return this.m.slice(1).map((g) => g ?? null);
  }
  groupdict() {
    return { ...(this.m.groups ?? {}) };
  }
  start() {
    return this.m.index;
  }
  end() {
    return this.m.index + this.m[0].length;
  }
}

const re = {
  IGNORECASE: 2, I: 2, MULTILINE: 8, M: 8, DOTALL: 16, S: 16,
  match: (p: string, s: string, flags?: number) => {
    const m = pyRegex(`^(?:${p})`, flags).exec(s);
    return m ? new PyMatch(m) : null;
  },
  fullmatch: (p: string, s: string, flags?: number) => {
    const m = pyRegex(`^(?:${p})$`, flags).exec(s);
    return m ? new PyMatch(m) : null;
  },
  search: (p: string, s: string, flags?: number) => {
    const m = pyRegex(p, flags).exec(s);
    return m ? new PyMatch(m) : null;
  },
  sub: (p: string, repl: string, s: string, ...rest: unknown[]) => {
    const kw = kwOf(rest);
    const count = (typeof rest[0] === 'number' ? rest[0] : kw.count) ?? 0;
    const flags = (typeof rest[1] === 'number' ? rest[1] : kw.flags) ?? 0;
    const r = pyRegex(p, flags);
    const js = repl.replace(/\\(\d)/g, '$$$1').replace(/\\g<(\w+)>/g, '$$<$1>');
    if (!count) return s.replace(new RegExp(r.source, r.flags + 'g'), js);
    let out = s;
    for (let i = 0; i < count; i++) out = out.replace(r, js);
    return out;
  },
  findall: (p: string, s: string, flags?: number) => {
    const r = new RegExp(pyRegex(p, flags).source, pyRegex(p, flags).flags + 'g');
    return [...s.matchAll(r)].map((m) => (m.length > 2 ? m.slice(1) : m.length === 2 ? m[1] : m[0]));
  },
  split: (p: string, s: string) => s.split(pyRegex(p)),
  escape: (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  compile: (p: string, flags?: number) => ({
    match: (s: string) => re.match(p, s, flags),
    search: (s: string) => re.search(p, s, flags),
    findall: (s: string) => re.findall(p, s, flags),
    sub: (repl: string, s: string) => re.sub(p, repl, s),
    pattern: p,
  }),
};

export const pythonModules = {
  datetime: {
    datetime: datetimeClass,
    date: dateClass,
    timedelta: (...args: unknown[]) => {
      const kw = kwOf(args);
      const days = typeof args[0] === 'number' ? args[0] : undefined;
      return new PyTimedelta({ ...kw, days: days ?? kw.days });
    },
    timezone: { utc: 'UTC' },
  },
  pytz: { utc: 'UTC', timezone: (name: string) => name },
  re,
  itertools: {
    chain: (...arrs: unknown[][]) => arrs.flat(),
  },
};
